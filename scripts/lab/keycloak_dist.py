"""The lab Keycloak's distribution: the Maven Central zip (SHA-1 verified, cached), unpacked, built per option set."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts.errors import ExternalError
from scripts.progress import Progress

#: The Keycloak release the lab runs. Change the version and the SHA-1 together.
KEYCLOAK_VERSION = "26.7.3"


#: SHA-1 of keycloak-quarkus-dist-26.7.3.zip as published on Maven Central.
KEYCLOAK_ZIP_SHA1 = "1e21a7f572581692aacb379dbba8413f99b67208"


MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


#: Directories searched for an already-downloaded zip (keycloak-<v>.zip or
#: keycloak-quarkus-dist-<v>.zip) before downloading; ':'-separated override in
#: IDP_DR_KEYCLOAK_ZIP_DIRS.
SEED_DIRS = (Path("/var/cache/idp-dr"),)


#: Build-time options of the lab's server.
DEFAULT_BUILD_OPTIONS: tuple[str, ...] = ("--db=postgres", "--health-enabled=true")


#: Heap for a lab server: enough for a few realms, small enough for a 2-core CI box.
DEFAULT_HEAP = "-Xms64m -Xmx512m"


Log = Callable[[str], None]


def _stderr_log(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def cache_dir() -> Path:
    """``IDP_DR_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/idp-dr``."""
    if os.environ.get("IDP_DR_CACHE"):
        return Path(os.environ["IDP_DR_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "idp-dr"


def dist_url(version: str = KEYCLOAK_VERSION) -> str:
    return f"{MAVEN_CENTRAL}/org/keycloak/keycloak-quarkus-dist/{version}/keycloak-quarkus-dist-{version}.zip"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - Maven Central publishes SHA-1; integrity, not security
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha1(path: Path, expected: str, *, source: str) -> None:
    """Raise ExternalError unless ``path`` has SHA-1 ``expected`` (hex, case-insensitive)."""
    expected = expected.strip().split()[0].lower() if expected.strip() else ""
    actual = sha1_of(path)
    if actual != expected:
        raise ExternalError(
            f"checksum mismatch for {path.name}: SHA-1 is {actual}, {source} says {expected or '(empty)'}",
            hint=f"delete {path} and re-run to download it again",
        )


def _seed_dirs() -> list[Path]:
    raw = os.environ.get("IDP_DR_KEYCLOAK_ZIP_DIRS")
    if raw is not None:
        return [Path(p) for p in raw.split(":") if p]
    return list(SEED_DIRS)


def ensure_zip(version: str = KEYCLOAK_VERSION, *, log: Log = _stderr_log, expected_sha1: str | None = None) -> Path:
    """The distribution zip in the cache: already there, copied from a seed dir, or downloaded."""
    pinned = expected_sha1 or (KEYCLOAK_ZIP_SHA1 if version == KEYCLOAK_VERSION else None)
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"keycloak-quarkus-dist-{version}.zip"
    if target.exists():
        return target
    with _locked(cache / ".keycloak-zip.lock"):
        if target.exists():
            return target
        for seed_dir in _seed_dirs():
            for name in (f"keycloak-{version}.zip", f"keycloak-quarkus-dist-{version}.zip"):
                seed = seed_dir / name
                if not seed.is_file():
                    continue
                if pinned is None:
                    log(f"[keycloak] ignoring {seed}: no pinned SHA-1 for version {version} to check it")
                    continue
                verify_sha1(seed, pinned, source=f"the SHA-1 pinned for Keycloak {version}")
                log(f"[keycloak] using pre-downloaded {seed} (SHA-1 verified); caching it in {target}")
                tmp = target.with_suffix(".part")
                shutil.copyfile(seed, tmp)
                tmp.replace(target)
                return target
        download_zip(version, target, log=log, pinned_sha1=pinned)
    return target


def download_zip(
    version: str, target: Path, *, log: Log = _stderr_log, pinned_sha1: str | None = None, timeout: float = 60
) -> None:
    """Download the zip to ``target``, verifying Maven's ``.sha1`` (and the pinned one)."""
    url = dist_url(version)
    try:
        published = requests.get(url + ".sha1", timeout=timeout)
        published.raise_for_status()
        response = requests.get(url, stream=True, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ExternalError(
            f"could not download Keycloak {version} from {url}: {exc}",
            hint="set KEYCLOAK_HOME to an installed Keycloak, or put the zip in "
            f"{target.parent} (network access to Maven Central is needed otherwise)",
        ) from None
    size = int(response.headers.get("content-length") or 0)
    log(f"[keycloak] downloading {url} ({size / 1e6:.0f} MB) into {target}")
    progress = Progress("keycloak download", min_interval=10, unit="bytes")
    tmp = target.with_suffix(".part")
    done = 0
    with tmp.open("wb") as fh:
        for chunk in response.iter_content(1 << 20):
            fh.write(chunk)
            done += len(chunk)
            progress.update("downloading", completed=done, total=size or None)
    try:
        verify_sha1(tmp, published.text, source=f"{url}.sha1")
        if pinned_sha1:
            verify_sha1(tmp, pinned_sha1, source=f"the SHA-1 pinned for Keycloak {version}")
    except ExternalError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    progress.done(f"downloaded and verified {target.name}")


def ensure_distribution(version: str = KEYCLOAK_VERSION, *, log: Log = _stderr_log) -> Path:
    """A pristine Keycloak home: ``KEYCLOAK_HOME``, else the cached zip, extracted once."""
    if os.environ.get("KEYCLOAK_HOME"):
        home = Path(os.environ["KEYCLOAK_HOME"])
        if not (home / "bin" / "kc.sh").is_file():
            raise ExternalError(
                f"KEYCLOAK_HOME={home} has no bin/kc.sh",
                hint="point KEYCLOAK_HOME at an unpacked Keycloak distribution, or unset it",
            )
        return home
    cache = cache_dir()
    home = cache / f"keycloak-{version}"
    if (home / ".complete").exists():
        return home
    zip_path = ensure_zip(version, log=log)
    with _locked(cache / ".keycloak-dist.lock"):
        if (home / ".complete").exists():
            return home
        log(f"[keycloak] extracting {zip_path.name} into {home}")
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
        try:
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(tmp)
            (extracted,) = [p for p in tmp.iterdir() if p.is_dir()]
            for script in (extracted / "bin").glob("*.sh"):
                script.chmod(0o755)
            shutil.rmtree(home, ignore_errors=True)
            extracted.rename(home)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (home / ".complete").write_text(version + "\n")
    return home


def installed_version(home: Path) -> str:
    text = (home / "version.txt").read_text() if (home / "version.txt").exists() else ""
    return text.strip().rsplit(" ", 1)[-1] if text.strip() else "unknown"


@dataclass(frozen=True)
class KeycloakBuild:
    """An augmented (``kc.sh build``) Keycloak home, ready for ``start --optimized``."""

    home: Path
    version: str
    options: tuple[str, ...]
    #: Seconds ``kc.sh build`` took, or None when the build came from the cache.
    build_seconds: float | None = None


def ensure_build(
    options: Iterable[str] = DEFAULT_BUILD_OPTIONS,
    *,
    version: str = KEYCLOAK_VERSION,
    log: Log = _stderr_log,
    timeout: float = 900,
) -> KeycloakBuild:
    """A per-configuration copy of the distribution with ``kc.sh build`` applied (cached)."""
    options = tuple(options)
    dist = ensure_distribution(version, log=log)
    actual_version = installed_version(dist)
    key = hashlib.sha256(json.dumps([str(dist), actual_version, options]).encode()).hexdigest()[:12]
    builds = cache_dir() / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    home = builds / f"keycloak-{actual_version}-{key}"
    if (home / ".complete").exists():
        return KeycloakBuild(home, actual_version, options)
    with _locked(builds / f".{home.name}.lock"):
        if (home / ".complete").exists():
            return KeycloakBuild(home, actual_version, options)
        shutil.rmtree(home, ignore_errors=True)
        tmp = builds / f".{home.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(dist, tmp, symlinks=True)
        (tmp / ".complete").unlink(missing_ok=True)
        log(f"[keycloak] building {home.name}: kc.sh build {' '.join(options)}")
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(tmp / "bin" / "kc.sh"), "build", *options],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_java_env({}),
        )
        seconds = time.monotonic() - t0
        (tmp / "build.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = " / ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise ExternalError(f"kc.sh build failed (exit {proc.returncode}): {tail}", hint=f"see {tmp / 'build.log'}")
        tmp.rename(home)
        (home / ".complete").write_text(json.dumps({"options": options, "build_seconds": seconds}) + "\n")
        log(f"[keycloak] built {home.name} in {seconds:.1f} s")
    return KeycloakBuild(home, actual_version, options, build_seconds=seconds)


def _java_env(extra: dict[str, str], heap: str = DEFAULT_HEAP) -> dict[str, str]:
    env = dict(os.environ)
    # Only our own settings reach the JVM: a stray JAVA_OPTS would replace Keycloak's defaults.
    for key in list(env):
        if key.startswith("KC_") or key in ("JAVA_OPTS", "JAVA_OPTS_APPEND", "JAVA_OPTS_KC_HEAP"):
            env.pop(key)
    env["JAVA_OPTS_KC_HEAP"] = heap
    env.update(extra)
    return env


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
