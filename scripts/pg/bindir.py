"""Where the PostgreSQL server binaries are (``restore wal`` and the lab both start servers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from scripts.errors import ExternalError
from scripts.pg.osuser import pg_os_user

PG_MAJOR = 15


def find_pg_bindir() -> Path:
    """PostgreSQL 15 server binaries: IDP_DR_PG_BINDIR, Debian's layout, or pg_config."""
    candidates: list[Path] = []
    if os.environ.get("IDP_DR_PG_BINDIR"):
        candidates.append(Path(os.environ["IDP_DR_PG_BINDIR"]))
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    # Elsewhere (e.g. Ubuntu 24.04 packages 16), take the newest packaged major.
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    for candidate in candidates:
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            return candidate
    raise ExternalError(
        f"PostgreSQL {PG_MAJOR} server binaries not found (looked in: {', '.join(map(str, candidates))})",
        hint="install them with 'sudo apt-get install postgresql' (Debian/Ubuntu), or set "
        "IDP_DR_PG_BINDIR to the directory holding postgres, initdb and pg_ctl",
    )


def pg_available() -> bool:
    try:
        find_pg_bindir()
        pg_os_user()
    except ExternalError:
        return False
    return True
