"""The restored PostgreSQL server: pg_ctl as its OS user, and waiting for its promotion."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scripts.errors import ExternalError, WaitTimeout
from scripts.pg.osuser import OsUser
from scripts.progress import Progress
from scripts.restore.wal.prefetch import served_counts
from scripts.restore.wal.request import RestoreRequest


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def server_env(req: RestoreRequest) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    env.update(req.env)
    env.setdefault("TZ", "UTC")
    return env


@dataclass
class RestoredServer:
    pgdata: Path
    port: int
    socket_dir: Path
    user: OsUser
    bindir: Path
    log_path: Path

    def _pg_ctl(self, args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> None:
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), *args]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.user.env({**os.environ, **(env or {})}),
                **self.user.popen_kwargs(),
            )
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"pg_ctl {args[-1]} did not return within {timeout:.0f} s") from None
        if proc.returncode != 0:
            tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise ExternalError(
                f"pg_ctl {args[-1]} failed for {self.pgdata} (exit {proc.returncode}): {tail}",
                hint=f"see {self.log_path}",
            )

    def start(self, env: dict[str, str]) -> None:
        self._pg_ctl(["-l", str(self.log_path), "-W", "start"], env=env)

    def running(self) -> bool:
        return postmaster_pid(self.pgdata) is not None

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._pg_ctl(["-m", mode, "-w", "-t", "60", "stop"], timeout=90)

    def reload(self) -> None:
        self._pg_ctl(["reload"])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def query(self, sql: str) -> list[tuple]:
        import psycopg

        with (
            psycopg.connect(
                host=str(self.socket_dir),
                port=self.port,
                user="postgres",
                dbname="postgres",
                autocommit=True,
                connect_timeout=5,
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    def stop_command(self) -> str:
        ctl = f"{self.bindir / 'pg_ctl'} -D {self.pgdata} -m fast stop"
        return ctl if self.user.is_current else f"sudo -u {self.user.name} {ctl}"


NEW_TLI = re.compile(r"selected new timeline ID: (\d+)")
RESTORED = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_FATAL = re.compile(r"(?:FATAL|PANIC):\s+(.*)")


def _promoted(server: RestoredServer, log: str, ask_server: bool) -> bool:
    """The log says so (our pg_ctl log), or the server does (when its log goes elsewhere)."""
    if NEW_TLI.search(log) and "database system is ready to accept connections" in log:
        return True
    if ask_server:
        with contextlib.suppress(Exception):
            rows = server.query("SELECT pg_is_in_recovery()")
            return bool(rows) and rows[0][0] is False
    return False


def wait_promoted(
    server: RestoredServer, *, timeout: float, progress: Progress | None, spool: Path | None, planned: int
) -> None:
    t0 = time.monotonic()
    last_asked = t0
    while True:
        log = server.log_text()
        # Asking over SQL while the server starts up logs a FATAL per attempt: rarely, then.
        ask = time.monotonic() - last_asked > 2
        if ask:
            last_asked = time.monotonic()
        if _promoted(server, log, ask):
            return
        if time.monotonic() - t0 > 2 and not server.running():
            fatal = _FATAL.findall(log)
            reason = fatal[-1].strip() if fatal else "no FATAL line in its log"
            hint = f"see {server.log_path}"
            if "recovery ended before configured recovery target was reached" in reason:
                hint = "the archive ends before the target: choose a target inside the restorable window; " + hint
            raise ExternalError(f"PostgreSQL stopped during recovery: {reason}", hint=hint)
        if time.monotonic() - t0 > timeout:
            raise WaitTimeout(
                f"the restored server in {server.pgdata} was not promoted within {timeout:g} s",
                hint=f"it keeps replaying; re-run the same command to resume waiting, or see {server.log_path}",
            )
        if progress is not None:
            restored = len(set(RESTORED.findall(log)))
            if spool is not None:
                answers = served_counts(spool)
                restored = max(restored, answers.get("spool", 0) + answers.get("fallback", 0))
            progress.update(f"replaying WAL: {restored}/{planned} segments restored")
        time.sleep(0.05)


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC .*archive recovery complete", re.M)


def promotion_time(log: str) -> datetime | None:
    """When the server logged "archive recovery complete" (log_line_prefix starting with %m)."""
    found = _LOG_TIME.findall(log)
    if not found:
        return None
    return datetime.fromisoformat(found[-1]).replace(tzinfo=UTC)
