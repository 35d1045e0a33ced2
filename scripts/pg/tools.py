"""A Python with barman-cloud that the PostgreSQL OS user can execute.

PostgreSQL runs ``archive_command`` and ``restore_command`` itself, as its own
OS user. When we are root, our interpreter usually lives under root's home
(pyenv, a venv in a checkout under /root), which that user cannot enter: the
command fails with exit 126 and PostgreSQL retries forever. So, as root, we
build a small venv from a system Python in a world-readable place
(``IDP_DR_LAB_DIR``) and install barman-cloud there. As a normal user, the
barman-cloud next to our own interpreter is used directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from scripts.errors import ExternalError
from scripts.pg.osuser import OsUser, lab_base_dir

#: Must match requirements.txt (a test checks it).
BARMAN_REQUIREMENT = "barman[cloud]==3.19.1"
BOTO3_REQUIREMENT = "boto3==1.44.5"

SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")


@dataclass(frozen=True)
class PgTools:
    bindir: Path

    @property
    def python(self) -> Path:
        return self.bindir / "python"

    def exe(self, name: str) -> str:
        return str(self.bindir / name)


def _runs_as(user: OsUser, argv: list[str]) -> bool:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=60, env=user.env(), **user.popen_kwargs())
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def ensure_pgtools(user: OsUser, *, log=print) -> PgTools:
    """Return barman-cloud executables ``user`` can run, installing them if needed."""
    own_bindir = Path(sys.executable).parent
    if user.is_current and (own_bindir / "barman-cloud-wal-archive").exists():
        return PgTools(own_bindir)

    tag = BARMAN_REQUIREMENT.split("==")[1]
    venv = lab_base_dir() / f"pgtools-barman-{tag}"
    tools = PgTools(venv / "bin")
    probe = [tools.exe("barman-cloud-wal-archive"), "--version"]
    if (venv / ".complete").exists() and _runs_as(user, probe):
        return tools

    lock_path = lab_base_dir() / ".pgtools.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").exists() and _runs_as(user, probe):
            return tools
        base_python = _pick_system_python(user)
        log(f"[lab] installing {BARMAN_REQUIREMENT} into {venv} (a Python the '{user.name}' user can run)")
        shutil.rmtree(venv, ignore_errors=True)
        old_umask = os.umask(0o022)
        try:
            _check_call([base_python, "-m", "venv", str(venv)], "create the pgtools venv")
            _check_call(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    BARMAN_REQUIREMENT,
                    BOTO3_REQUIREMENT,
                ],
                "install barman-cloud into the pgtools venv",
            )
        finally:
            os.umask(old_umask)
        if not _runs_as(user, probe):
            raise ExternalError(
                f"barman-cloud in {venv} does not run as user {user.name!r}",
                hint=f"check that every parent of {venv} is world-executable (chmod o+x)",
            )
        (venv / ".complete").write_text(BARMAN_REQUIREMENT + "\n")
    return tools


def _pick_system_python(user: OsUser) -> str:
    preferred = os.environ.get("IDP_DR_PGTOOLS_PYTHON")
    candidates = [preferred] if preferred else list(SYSTEM_PYTHONS)
    for candidate in candidates:
        usable = _runs_as(user, [candidate, "-c", "import venv, ensurepip"]) if candidate else False
        if usable:
            return candidate
    raise ExternalError(
        f"no Python that user {user.name!r} can execute with venv support (tried {', '.join(candidates)})",
        hint="install Debian's 'python3-venv' package, or set IDP_DR_PGTOOLS_PYTHON to such an interpreter",
    )


def _check_call(argv: list[str], what: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if proc.returncode == 0:
            return
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ExternalError(f"could not {what} (exit {proc.returncode}): {tail}")
    raise ExternalError(f"could not {what}: {argv[0]} not found")
