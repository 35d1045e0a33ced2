"""`python -m scripts drill --local`: the README's first command, end to end, with real parts.

Real PostgreSQL 15 (as the postgres OS user), barman-cloud, moto_server and two real
Keycloak servers. One full drill (about 1.5 minutes here) checks the report; a second,
interrupted with SIGINT in the middle, checks that everything it started is stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.pg.bindir import pg_available
from tests.conftest import REPO_ROOT, need

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]

SERVER_PATTERNS = ("postgres: ", "moto.server", "org.keycloak", "kc.sh")


def server_pids() -> set[int]:
    """PIDs of processes the drill could have started (PostgreSQL, moto, Keycloak)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    pids = set()
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if any(pattern in args for pattern in SERVER_PATTERNS):
            pids.add(int(pid))
    return pids


def wait_gone(pids: set[int], timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = pids & server_pids()
        if not alive:
            return set()
        time.sleep(0.5)
    return pids & server_pids()


@pytest.fixture(scope="module")
def drill_report(tmp_path_factory) -> dict:
    need(pg_available(), "PostgreSQL 15 server binaries (and a non-root OS user to run them)")
    report_dir = tmp_path_factory.mktemp("drill-reports")
    before = server_pids()
    report_file = report_dir / "report.json"
    code = main(["drill", "--local", "--quiet", "--report-dir", str(report_dir), "--report-file", str(report_file)])
    doc = json.loads(report_file.read_text())
    doc["_raw"] = report_file.read_text()
    doc["_exit_code"] = code
    doc["_leftovers"] = wait_gone(server_pids() - before, timeout=15)
    return doc


def checks(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"]}


def test_the_drill_passes_with_exit_zero(drill_report):
    failed = {name: status for name, status in checks(drill_report).items() if status == "FAIL"}
    assert drill_report["_exit_code"] == ExitCode.OK, failed or drill_report.get("error")
    assert drill_report["ok"] is True


def test_markers_before_the_target_are_present_and_after_it_absent(drill_report):
    status = checks(drill_report)
    assert status["markers.before_target_present"] == "pass"
    assert status["markers.after_target_absent"] == "pass"
    evidence = {c["name"]: c["message"] for c in drill_report["checks"]}
    # Non-vacuous: markers were written on both sides of the target.
    assert not evidence["markers.before_target_present"].startswith("0 of 0")
    assert not evidence["markers.after_target_absent"].startswith("0 of 0")


def test_keycloak_data_follows_the_target_and_the_deleted_realm_is_back(drill_report):
    status = checks(drill_report)
    for name in (
        "keycloak.users_before_target_present",
        "keycloak.users_after_target_absent",
        "disaster.realm_restored",
    ):
        assert status[name] == "pass", name


def test_the_idp_contract_holds_on_the_standby(drill_report):
    status = checks(drill_report)
    for name in (
        "readiness",
        "issuer",
        "jwks.signing_keys",
        "jwks.baseline_overlap",
        "token.signature",
        "token.issuer",
        "db.schema_version",
        "db.signing_keys",
    ):
        assert status[name] == "pass", name
    assert drill_report["result"]["issuer"] == "https://sso.drill.idp-dr.test/realms/drill"


def test_rpo_and_rto_are_measured_per_phase_against_targets(drill_report):
    result = drill_report["result"]
    rto = result["rto"]
    assert set(rto) == {"restore_base_s", "replay_wal_s", "keycloak_ready_s", "verify_s", "total_s"}
    assert abs(sum(v for k, v in rto.items() if k != "total_s") - rto["total_s"]) < 0.5
    assert result["rpo"]["target_covered_by_archive"] is True
    assert 0 <= result["rpo"]["rpo_s"] <= result["rpo"]["archive_timeout_s"] + 5
    assert checks(drill_report)["rpo.within_target"] == "pass"
    assert checks(drill_report)["rto.within_target"] == "pass"


def test_the_report_files_are_written(drill_report):
    files = drill_report["result"]["files"]
    assert json.loads(Path(files["json"]).read_text())["ok"] is True
    assert Path(files["markdown"]).read_text().startswith("# idp-dr drill report: PASSED")
    assert Path(files["timeline_png"]).read_bytes()[:4] == b"\x89PNG"
    logs = sorted(p.name for p in (Path(files["json"]).parent / "logs").iterdir())
    assert logs == ["primary-keycloak.log", "primary-postgres.log", "restored-postgres.log", "standby-keycloak.log"]


def test_nothing_is_left_running_and_the_workspace_is_removed(drill_report):
    assert drill_report["_leftovers"] == set()
    assert not Path(drill_report["result"]["workspace"]).exists()


def test_no_secret_reaches_the_report(drill_report):
    # The emulator's secret key is registered with the report; it must show up masked, if at all.
    assert "idp-dr-lab-not-a-secret" not in drill_report["_raw"]
    markdown = Path(drill_report["result"]["files"]["markdown"]).read_text()
    assert "idp-dr-lab-not-a-secret" not in markdown


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_the_middle_stops_everything(tmp_path):
    need(pg_available(), "PostgreSQL 15 server binaries (and a non-root OS user to run them)")
    before = server_pids()
    report_file = tmp_path / "interrupted.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scripts",
            "drill",
            "--local",
            "--report-dir",
            str(tmp_path),
            "--report-file",
            str(report_file),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A test run launched in the background (`cmd &` in a script, nohup) inherits SIGINT as
        # ignored, and Python then installs no KeyboardInterrupt handler: give the drill the
        # default disposition an operator's terminal gives it.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 600
        seen = []
        for line in proc.stderr:  # progress lines: wait until the primary Keycloak serves the realm
            seen.append(line)
            if "[drill] recovery target" in line or time.monotonic() > deadline:
                break
        assert any("[drill] recovery target" in line for line in seen), "".join(seen[-20:])
        started = server_pids() - before
        assert started, "the drill should be running servers by now"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED
    assert wait_gone(started) == set()
    doc = json.loads(report_file.read_text())
    assert doc["error"]["message"] == "interrupted; started processes were stopped"
    assert not Path(doc["result"]["workspace"]).exists()
