"""Which OS user runs PostgreSQL, and directories that user can reach.

PostgreSQL refuses to run as root. When we are root we run it (and the
commands it runs itself: archive_command, restore_command) as an unprivileged
user, ``postgres`` by default (override with ``IDP_DR_PG_OS_USER``). When we
are not root we simply use the current user.

That user usually cannot enter root's home, nor pytest's ``/tmp/pytest-of-root``
(mode 0700), so lab directories live under a world-traversable base
(``IDP_DR_LAB_DIR``, default ``/var/tmp/idp-dr``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scripts.errors import ExternalError

# Outside every home directory on purpose: the PostgreSQL OS user must reach it.
DEFAULT_LAB_DIR = Path("/var/tmp/idp-dr")  # noqa: S108


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()

    def popen_kwargs(self) -> dict:
        """Keyword arguments for subprocess.Popen/run to run as this user."""
        if self.is_current:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": 0o077}

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        if not self.is_current:
            env.update({"HOME": self.home, "USER": self.name, "LOGNAME": self.name})
            # root's pyenv/venv paths are unreachable for this user; keep system dirs only.
            env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
            for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYENV_VERSION", "PYTHONHOME"):
                env.pop(key, None)
        return env

    def chown(self, path: Path) -> None:
        if not self.is_current:
            os.chown(path, self.uid, self.gid)


def pg_os_user() -> OsUser:
    """The user PostgreSQL runs as: the current user, or an unprivileged one when root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    name = os.environ.get("IDP_DR_PG_OS_USER", "postgres")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ExternalError(
            f"running as root, and the unprivileged user {name!r} that PostgreSQL must run as does not exist",
            hint="install the Debian 'postgresql' package (it creates 'postgres'), or set "
            "IDP_DR_PG_OS_USER to an existing non-root user",
        ) from None
    if entry.pw_uid == 0:
        raise ExternalError(f"IDP_DR_PG_OS_USER={name!r} is root; PostgreSQL refuses to run as root")
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def lab_base_dir() -> Path:
    base = Path(os.environ.get("IDP_DR_LAB_DIR", str(DEFAULT_LAB_DIR)))
    base.mkdir(parents=True, exist_ok=True)
    # World-traversable (not listable by others is not needed: contents are throwaway).
    base.chmod(0o755)
    return base


def make_workspace(prefix: str = "run-") -> Path:
    """A fresh directory under the lab base that the PostgreSQL user can enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=lab_base_dir()))
    path.chmod(0o755)
    return path


def make_user_dir(path: Path, user: OsUser, mode: int = 0o700) -> Path:
    """Create ``path`` owned by ``user`` (e.g. a PGDATA or a WAL spool)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    user.chown(path)
    return path


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
