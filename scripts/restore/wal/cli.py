"""``python -m scripts restore wal``: point-in-time restore from a barman-cloud WAL archive.

The library entry point is :func:`restore_wal` (a :class:`RestoreRequest` in, a
:class:`RestoreResult` out, every phase recorded as a step in the passed
:class:`~scripts.report.Report`). The CLI handler :func:`run` only builds the
request from arguments.

Order of work (nothing is written before step 1 has passed):

1. **validate** – arguments, the target directory (must be empty or absent; refused if a
   server runs there), the bucket and the server's backups, the restorable window, the
   target against that window (time) or against the WAL itself (xid, name: read with
   ``pg_waldump``), the backup to start from, and that the restored server's own archive
   prefix is unused.
2. **fetch base backup** – ``barman-cloud-restore`` into PGDATA as the PostgreSQL OS user.
3. **configure recovery** – ``restore_command``, exactly one ``recovery_target_*``,
   ``recovery_target_action = promote``, ``recovery.signal``; ``archive_command`` replaced
   by one that archives under the *new* server name (after ``barman-cloud-check-wal-archive``
   confirms that prefix is empty), or ``archive_mode = off`` with ``--no-archive``.
4. **WAL fetch + replay** – start PostgreSQL; the prefetcher downloads segments in
   parallel into a spool the ``restore_command`` reads; wait until promoted.
5. **finalize** – reset the recovery-only settings (a later crash recovery must not reuse the
   target), read the new timeline and the last replayed commit, remove the spool.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.errors import ExternalError, InputError, RefusedError, WaitTimeout
from scripts.pg.bindir import find_pg_bindir
from scripts.pg.osuser import OsUser, pg_os_user
from scripts.pg.tools import PgTools, ensure_pgtools
from scripts.processes import Supervisor
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.wal.prefetch import Prefetcher, render_restore_script, served_counts
from scripts.restore.wal.recovery import (
    RECOVERY_ONLY_SETTINGS,
    Target,
    Window,
    check_time_in_window,
    render_auto_conf,
    restore_command_line,
)
from scripts.timeutil import iso, utcnow
from scripts.wal import archive as archiving
from scripts.wal import waldump
from scripts.wal.catalog import (
    Backup,
    Catalog,
    ReplayPlan,
    WalObject,
    check_bucket,
    list_objects,
    list_server_names,
    replay_plan,
)
from scripts.wal.fetch import fetch_decompressed
from scripts.wal.location import ArchiveLocation, check_server_name

STATE_FILE = "idp-dr-restore.json"
RESTORE_SCRIPT_NAME = "idp-dr-restore-command.sh"
DEFAULT_PORT = 5432
DEFAULT_PARALLEL = 4
DEFAULT_SPOOL_MB = 512
DEFAULT_TIMEOUT_S = 3600.0
#: barman-cloud-restore is one download: bounded only to never hang forever (--timeout is for replay).
BASE_RESTORE_TIMEOUT_S = 24 * 3600.0


@dataclass
class RestoreRequest:
    """What to restore, where, and how. Defaults are the CLI's defaults.

    * ``backup_id``: "latest" (the newest usable backup that precedes the target) or an id.
    * ``new_server_name``: the name the restored server archives under; default
      ``<server_name>-restored-<UTC timestamp>``. Never the source's name.
    * ``archive``: False sets ``archive_mode = off`` on the restored server.
    * ``prefetch``/``parallel``/``spool_max_mb``: the WAL prefetcher (off = plain serial
      ``barman-cloud-wal-restore``). ``spool_dir`` default: ``<pgdata>.wal-spool``.
    * ``leave_running``: keep the restored server running after promotion (the CLI default);
      False stops it before returning. A ``supervisor`` passed to :func:`restore_wal` also
      stops it when the supervisor closes.
    * ``env``: extra environment for PostgreSQL (restore_command/archive_command run as the
      PostgreSQL OS user and need AWS credentials and region); the caller's AWS_* variables are
      passed through as well.
    """

    archive_url: str
    server_name: str
    pgdata: Path
    target: Target
    backup_id: str = "latest"
    endpoint_url: str | None = None
    new_server_name: str | None = None
    archive: bool = True
    port: int = DEFAULT_PORT
    listen_addresses: str = "127.0.0.1"
    socket_dir: Path | None = None
    prefetch: bool = True
    parallel: int = DEFAULT_PARALLEL
    spool_max_mb: int = DEFAULT_SPOOL_MB
    spool_dir: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    leave_running: bool = True
    dry_run: bool = False
    env: dict[str, str] = field(default_factory=dict)
    #: Start the WAL prefetch while the base backup downloads (default). False keeps the phases
    #: apart (the benchmark uses it to compare the WAL phase alone with pgBackRest's).
    prefetch_during_base: bool = True
    #: With prefetch off: pass ``-p N --spool-dir`` to barman-cloud-wal-restore (its own look-ahead;
    #: library only, used by the benchmark to compare). 0 = plain serial.
    barman_parallel: int = 0

    def fingerprint(self) -> str:
        """Identity of a restore for resuming: same archive, server, backup choice and target."""
        key = json.dumps(
            [
                self.archive_url,
                self.server_name,
                self.backup_id,
                self.target.kind,
                self.target.value,
                self.endpoint_url,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class RestoreResult:
    pgdata: Path
    backup: dict[str, Any]
    target: str
    window: dict[str, Any] | None
    new_server_name: str | None
    archive_mode: str
    port: int
    socket_dir: str
    new_timeline: int | None = None
    last_replayed_commit: datetime | None = None
    promoted_at: datetime | None = None
    rpo_s: float | None = None
    segments_replayed: int = 0
    wal_bytes: int = 0
    phases_s: dict[str, float] = field(default_factory=dict)
    prefetch: dict[str, Any] | None = None
    served: dict[str, int] = field(default_factory=dict)
    running: bool = False
    stop_command: str | None = None
    dry_run: bool = False
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "pgdata": str(self.pgdata),
            "backup": self.backup,
            "target": self.target,
            "window": self.window,
            "new_server_name": self.new_server_name,
            "archive_mode": self.archive_mode,
            "listen": {"port": self.port, "socket_dir": self.socket_dir},
            "new_timeline": self.new_timeline,
            "last_replayed_commit": iso(self.last_replayed_commit),
            "promoted_at": iso(self.promoted_at),
            "rpo_s": None if self.rpo_s is None else round(self.rpo_s, 3),
            "segments_replayed": self.segments_replayed,
            "wal_bytes_fetched": self.wal_bytes,
            "phases_s": {k: round(v, 3) for k, v in self.phases_s.items()},
            "prefetch": self.prefetch,
            "restore_command_answers": self.served,
            "running": self.running,
            "stop_with": self.stop_command,
            "dry_run": self.dry_run,
            "resumed": self.resumed,
        }


# ---------------------------------------------------------------------------------------------
# validation helpers (read-only)
# ---------------------------------------------------------------------------------------------


def _postmaster_pid(pgdata: Path) -> int | None:
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


def _check_pgdata(pgdata: Path, fingerprint: str) -> dict[str, Any] | None:
    """None when PGDATA may be restored into; the saved state when this is our own restore to resume."""
    if pgdata.exists() and not pgdata.is_dir():
        raise InputError("--pgdata", str(pgdata), "a directory path (this is a file)")
    pid = _postmaster_pid(pgdata) if pgdata.is_dir() else None
    state = _read_state(pgdata)
    if state is not None and state.get("fingerprint") == fingerprint:
        return state
    if pid is not None:
        raise RefusedError(
            f"refusing to restore into {pgdata}: a PostgreSQL server is running there (postmaster.pid names PID {pid})",
            hint="stop that server and restore into an empty or new directory; nothing was changed",
        )
    if pgdata.is_dir():
        entries = sorted(p.name for p in pgdata.iterdir())
        if entries:
            example = ", ".join(entries[:3])
            raise RefusedError(
                f"refusing to restore into non-empty directory {pgdata} ({len(entries)} entries, e.g. {example})",
                hint="restore into an empty or new directory; nothing was changed",
            )
    return None


def _read_state(pgdata: Path) -> dict[str, Any] | None:
    try:
        return json.loads((pgdata / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_port_free(port: int, listen: str) -> None:
    first = listen.split(",")[0].strip()
    host = "127.0.0.1" if first in ("localhost", "*", "0.0.0.0", "") else first  # noqa: S104 - comparing
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise InputError("--port", port, f"a free TCP port (something already listens on {host}:{port})") from None


def _validate_numbers(req: RestoreRequest) -> None:
    if not 1 <= req.port <= 65535:
        raise InputError("--port", req.port, "an integer from 1 to 65535")
    if not 1 <= req.parallel <= 64:
        raise InputError("--parallel", req.parallel, "an integer from 1 to 64")
    if req.spool_max_mb < 64:
        raise InputError("--spool-max-mb", req.spool_max_mb, "an integer of at least 64 (MiB)")
    if req.timeout_s <= 0:
        raise InputError("--timeout", req.timeout_s, "a positive number of seconds")


def _load_catalog(location: ArchiveLocation) -> Catalog:
    check_bucket(location)
    catalog = Catalog.load(location)
    if not catalog.backups:
        servers = [s for s in list_server_names(location) if s != location.server_name]
        there = ", ".join(servers) if servers else "none"
        raise InputError(
            "--server-name",
            location.server_name,
            f"no barman-cloud backups under s3://{location.bucket}/{location.base_prefix}; "
            f"server names with backups under {location.url}: {there}",
        )
    if not catalog.usable_backups:
        raise InputError(
            "--server-name",
            location.server_name,
            f"no usable (DONE) backup under s3://{location.bucket}/{location.base_prefix}; "
            f"backups found: " + ", ".join(f"{b.backup_id} ({b.status})" for b in catalog.backups),
        )
    return catalog


def _explicit_backup(catalog: Catalog, backup_id: str) -> Backup:
    usable = catalog.usable_backups
    for backup in usable:
        if backup_id in (backup.backup_id, backup.name):
            return backup
    raise InputError(
        "--backup-id",
        backup_id,
        "latest, or the id of a usable backup: " + ", ".join(b.backup_id for b in usable),
    )


@dataclass
class LatestCommit:
    time: datetime
    source: str
    xid: int | None = None


def _download(location: ArchiveLocation, obj: WalObject, directory: Path) -> Path:
    path = directory / obj.name
    path.write_bytes(fetch_decompressed(location, obj.key, obj.compression))
    return path


def _latest_commit(
    location: ArchiveLocation, plan: ReplayPlan, pg_bindir: Path, max_segments: int = 4
) -> LatestCommit | None:
    """The newest commit in the archived WAL: pg_waldump on the last segments (precise).

    Falls back to the newest segment's upload time (LastModified, an upper bound) when no
    commit is found in the last ``max_segments`` segments or the codec is unavailable.
    """
    if not plan.segments:
        return None
    with tempfile.TemporaryDirectory(prefix="idp-dr-waldump-") as tmp:
        directory = Path(tmp)
        tail = plan.segments[-max_segments:]
        try:
            for obj in tail:
                _download(location, obj, directory)
        except ExternalError:
            tail = []
        for index in range(len(tail) - 1, -1, -1):
            facts = waldump.scan(pg_bindir, directory, tail[index].name, tail[-1].name)
            commit = facts.last_timestamped
            if commit is not None:
                return LatestCommit(
                    commit.time,
                    f"last commit in the archived WAL (pg_waldump, {tail[index].name}..{tail[-1].name})",
                    commit.xid,
                )
    last = plan.segments[-1]
    return LatestCommit(
        last.last_modified,
        f"upload time of the newest archived segment {last.name} (no commit found with pg_waldump; approximate)",
    )


def _window(catalog: Catalog, explicit: Backup | None, latest: LatestCommit) -> Window:
    if explicit is not None:
        earliest, what = explicit.end_time, f"end of backup {explicit.backup_id}"
    else:
        oldest = catalog.usable_backups[0]
        earliest, what = oldest.end_time, f"end of the oldest usable backup {oldest.backup_id}"
    assert earliest is not None
    return Window(earliest, latest.time, what, latest.source)


def _pick_backup_for_time(catalog: Catalog, target: Target) -> Backup:
    candidates = [b for b in catalog.usable_backups if b.end_time is not None and b.end_time < target.time]
    return candidates[-1]


def _scan_for_target(
    location: ArchiveLocation,
    catalog: Catalog,
    target: Target,
    explicit: Backup | None,
    pg_bindir: Path,
    scan_dir: Path,
    user: OsUser,
    parallel: int,
    progress: Progress | None,
) -> tuple[Backup, ReplayPlan, dict[str, Any]]:
    """Find the xid's commit or the restore point in the WAL after a backup (newest backup first).

    The segments read are downloaded (in parallel) into ``scan_dir``, which becomes the
    prefetch spool: replay then takes them from there instead of downloading them again.
    """
    candidates = [explicit] if explicit else list(reversed(catalog.usable_backups))
    seen_names: list[str] = []
    xid_range: list[int] = []
    scanned: set[str] = set()
    for backup in candidates:
        plan = replay_plan(catalog, backup)
        todo = [o for o in plan.objects if o.name not in scanned]
        if progress:
            progress.update(
                f"reading {len(todo)} WAL files after backup {backup.backup_id} to find {target.describe()}"
            )
        Prefetcher(location, scan_dir, user, todo, parallel=parallel, max_bytes=1 << 62).fetch_all_now()
        scanned.update(o.name for o in todo)
        if not plan.segments:
            continue
        facts = waldump.scan(pg_bindir, scan_dir, plan.segments[0].name, plan.segments[-1].name)
        end_lsn = _lsn(backup.end_xlog)
        if target.kind == "xid":
            # recovery_target_xid keeps the low 32 bits of an epoch-qualified txid_current() value
            commit = facts.commit_of(int(target.value or 0) & 0xFFFFFFFF)
            if commit is not None and _lsn(commit.lsn) > end_lsn:
                return backup, plan, {"xid_commit_time": iso(commit.time), "xid_commit_lsn": commit.lsn}
            xid_range += [c.xid for c in facts.commits if not c.aborted and _lsn(c.lsn) > end_lsn]
        else:
            for name, lsn in facts.restore_points:
                if name == target.value and _lsn(lsn) > end_lsn:
                    return backup, plan, {"restore_point_lsn": lsn}
            seen_names += [name for name, lsn in facts.restore_points if _lsn(lsn) > end_lsn]
    oldest = candidates[-1]
    after = f"after backup {oldest.backup_id}" if explicit else "after the end of any usable backup"
    if target.kind == "xid":
        span = f"from {min(xid_range)} to {max(xid_range)}" if xid_range else "none"
        raise InputError(
            "--xid",
            target.value,
            f"no commit of this transaction in the archived WAL {after}; committed xids there: {span}",
        )
    names = ", ".join(dict.fromkeys(seen_names)) or "none"
    raise InputError(
        "--name",
        target.value,
        f"no restore point with this name in the archived WAL {after}; restore points there: {names}",
    )


def _lsn(text: str | None) -> int:
    if not text:
        return 0
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def default_new_server_name(server_name: str) -> str:
    return f"{server_name}-restored-{utcnow().strftime('%Y%m%dT%H%M%SZ')}"


def _default_socket_dir() -> Path:
    for candidate in (Path("/var/run/postgresql"), Path("/tmp")):  # noqa: S108 - PostgreSQL's own defaults
        if candidate.is_dir():
            return candidate
    return Path("/tmp")  # noqa: S108


def _server_env(req: RestoreRequest) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    env.update(req.env)
    env.setdefault("TZ", "UTC")
    return env


# ---------------------------------------------------------------------------------------------
# the restored server
# ---------------------------------------------------------------------------------------------


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
        return _postmaster_pid(self.pgdata) is not None

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


_NEW_TLI = re.compile(r"selected new timeline ID: (\d+)")
_RESTORED = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_FATAL = re.compile(r"(?:FATAL|PANIC):\s+(.*)")


def _promoted(server: RestoredServer, log: str, ask_server: bool) -> bool:
    """The log says so (our pg_ctl log), or the server does (when its log goes elsewhere)."""
    if _NEW_TLI.search(log) and "database system is ready to accept connections" in log:
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
            restored = len(set(_RESTORED.findall(log)))
            if spool is not None:
                answers = served_counts(spool)
                restored = max(restored, answers.get("spool", 0) + answers.get("fallback", 0))
            progress.update(f"replaying WAL: {restored}/{planned} segments restored")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the library entry point
# ---------------------------------------------------------------------------------------------


def restore_wal(
    req: RestoreRequest,
    report: Report,
    *,
    progress: Progress | None = None,
    supervisor: Supervisor | None = None,
    tools: PgTools | None = None,
) -> RestoreResult:
    """Restore ``req.server_name``'s archive into ``req.pgdata`` at ``req.target`` and promote.

    Raises InputError (bad input, window miss; exit 2), RefusedError (non-empty PGDATA, a running
    server, a used archive prefix; exit 3), WaitTimeout (exit 4), ExternalError (exit 5). Nothing
    is written before validation passed. Re-running the same request resumes it.
    """
    t_total = time.monotonic()
    phases: dict[str, float] = {}
    pgdata = Path(req.pgdata).absolute()
    for secret_var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        report.register_secret(os.environ.get(secret_var))
        report.register_secret(req.env.get(secret_var))
    spool = Path(req.spool_dir).absolute() if req.spool_dir else pgdata.with_name(pgdata.name + ".wal-spool")
    scan_used_spool = False

    # ---- 1. validate -------------------------------------------------------------------------
    try:
        with report.step("validate") as step:
            t0 = time.monotonic()
            _validate_numbers(req)
            location = ArchiveLocation.parse(req.archive_url, req.server_name, req.endpoint_url)
            new_name = req.new_server_name or default_new_server_name(req.server_name)
            if req.archive:
                check_server_name(new_name, "--new-server-name")
                if new_name == req.server_name:
                    raise RefusedError(
                        f"refusing to archive the restored server as {new_name!r}: that is the source's "
                        "server name, and a restored server never archives into the source's prefix",
                        hint="pass another --new-server-name, or --no-archive",
                    )
            resume_state = _check_pgdata(pgdata, req.fingerprint())
            if resume_state is not None:
                step.status = "resumed"
                new_name = resume_state.get("new_server_name") or new_name
            user = pg_os_user()
            pg_bindir = find_pg_bindir()
            catalog = _load_catalog(location)
            explicit = None if req.backup_id in ("latest", "", None) else _explicit_backup(catalog, req.backup_id)
            newest = explicit or catalog.usable_backups[-1]
            newest_plan = replay_plan(catalog, newest)
            latest = _latest_commit(location, newest_plan, pg_bindir)
            window = _window(catalog, explicit, latest) if latest else None
            extra: dict[str, Any] = {}
            if req.target.kind == "time":
                if window is None:
                    raise InputError(
                        "--time",
                        req.target.value,
                        "a time with archived WAL after a backup; this archive holds no WAL after its backups",
                    )
                check_time_in_window(req.target, window)
                backup = explicit or _pick_backup_for_time(catalog, req.target)
                plan = newest_plan if backup is newest else replay_plan(catalog, backup)
            elif req.target.kind in ("xid", "name"):
                if resume_state is None:
                    _make_spool_dir(spool, user, [])
                    scan_used_spool = True
                backup, plan, extra = _scan_for_target(
                    location, catalog, req.target, explicit, pg_bindir, spool, user, req.parallel, progress
                )
            else:
                backup, plan = newest, newest_plan
            if plan.gap_after:
                report.notes.append(
                    f"the archive has a hole after {plan.gap_after}: WAL after it cannot be replayed from this backup"
                )
            if req.archive and resume_state is None:
                used = list_objects(location.with_server(new_name), location.with_server(new_name).server_prefix)
                if used:
                    raise RefusedError(
                        "refusing to archive the restored server into "
                        f"{location.with_server(new_name).display()}: "
                        f"that prefix already holds {len(used)} objects",
                        hint="pass an unused --new-server-name (or --no-archive); nothing was changed",
                    )
            if resume_state is None:
                _check_port_free(req.port, req.listen_addresses)
            tools = tools or ensure_pgtools(user, log=lambda m: progress.update(m) if progress else None)
            socket_dir = Path(req.socket_dir) if req.socket_dir else _default_socket_dir()
            step.detail.update(
                {
                    "backup_id": backup.backup_id,
                    "target": req.target.describe(),
                    "segments_planned": len(plan.segments),
                    "window": window.to_dict() if window else None,
                    **extra,
                }
            )
            phases["validate"] = time.monotonic() - t0
    except BaseException:
        if scan_used_spool:  # WAL downloaded to check an xid/name target: nothing may stay behind
            shutil.rmtree(spool, ignore_errors=True)
        raise

    result = RestoreResult(
        pgdata=pgdata,
        backup={**backup.summary(), "end_time": iso(backup.end_time)},
        target=req.target.describe(),
        window=window.to_dict() if window else None,
        new_server_name=new_name if req.archive else None,
        archive_mode=f"on (as server {new_name!r})" if req.archive else "off",
        port=req.port,
        socket_dir=str(socket_dir),
        dry_run=req.dry_run,
        resumed=resume_state is not None,
    )
    report.result.update(
        {
            "archive": location.display(),
            "backup": result.backup,
            "target": result.target,
            "window": result.window,
            "wal_segments_planned": len(plan.segments),
            "wal_bytes_planned": plan.bytes,
            **extra,
        }
    )
    server = RestoredServer(pgdata, req.port, socket_dir, user, pg_bindir, pgdata / "log" / "idp-dr-restore.log")
    if req.dry_run:
        if scan_used_spool:
            shutil.rmtree(spool, ignore_errors=True)
        report.notes.append("dry run: nothing was written")
        result.phases_s = phases
        plan_keys = ("pgdata", "new_server_name", "archive_mode", "listen", "phases_s", "dry_run")
        report.result.update({k: v for k, v in result.to_dict().items() if k in plan_keys})
        report.result["restore_command"] = (
            "prefetch spool + barman-cloud-wal-restore fallback" if req.prefetch else "barman-cloud-wal-restore"
        )
        return result

    env = _server_env(req)
    prefetcher: Prefetcher | None = None
    started_here = False
    try:
        if req.prefetch and req.prefetch_during_base and resume_state is None:
            # WAL downloads overlap the base backup download: replay finds its first segments waiting.
            if not spool.is_dir():
                _make_spool_dir(spool, user, [])
            prefetcher = Prefetcher(
                location,
                spool,
                user,
                plan.objects,
                parallel=req.parallel,
                max_bytes=req.spool_max_mb * 1024 * 1024,
            )
            prefetcher.start()
        # ---- 2. fetch base backup --------------------------------------------------------------
        if resume_state is None:
            with report.step("fetch base backup", backup_id=backup.backup_id) as step:
                t0 = time.monotonic()
                if progress:
                    progress.update(f"downloading base backup {backup.backup_id}")
                pgdata.mkdir(parents=True, exist_ok=True)
                pgdata.chmod(0o700)
                user.chown(pgdata)
                proc = archiving.run_barman(
                    tools,
                    user,
                    "barman-cloud-restore",
                    [
                        *location.barman_args(),
                        location.url,
                        location.server_name,
                        backup.backup_id,
                        str(pgdata),
                    ],
                    env=env,
                    timeout=BASE_RESTORE_TIMEOUT_S,
                    on_wait=_download_progress(progress, backup.backup_id, pgdata),
                )
                if proc.returncode != 0:
                    raise ExternalError(
                        f"barman-cloud-restore of {backup.backup_id} failed: {archiving.tail(proc)}",
                        hint=f"empty {pgdata} before re-running",
                    )
                _write_state(
                    pgdata,
                    user,
                    {
                        "fingerprint": req.fingerprint(),
                        "new_server_name": new_name,
                        "backup_id": backup.backup_id,
                        "target": req.target.describe(),
                        "started_at": iso(utcnow()),
                    },
                )
                step.detail["bytes"] = _du(pgdata)
                if prefetcher is not None:
                    step.detail["wal_files_prefetched_meanwhile"] = prefetcher.stats.fetched
                phases["fetch_base_backup"] = time.monotonic() - t0
        else:
            report.skip_step("fetch base backup", "resumed: already restored by an earlier run")

        # ---- 3. configure recovery -------------------------------------------------------------
        already_promoted = resume_state is not None and not (pgdata / "recovery.signal").exists()
        if resume_state is None:
            with report.step("configure recovery") as step:
                t0 = time.monotonic()
                fallback = [
                    tools.exe("barman-cloud-wal-restore"),
                    *location.barman_args(),
                    location.url,
                    location.server_name,
                ]
                if req.prefetch:
                    final = [o.name for o in catalog.wal]
                    Prefetcher.prepare_spool(spool, user, final)
                    script = spool / RESTORE_SCRIPT_NAME
                    script.write_text(render_restore_script(spool, fallback))
                    script.chmod(0o755)
                    restore_command = restore_command_line(str(script))
                else:
                    serial = list(fallback)
                    if req.barman_parallel > 1:
                        # barman-cloud's own look-ahead: still one Python start per segment.
                        _make_spool_dir(spool, user, [])
                        serial[1:1] = ["-p", str(req.barman_parallel), "--spool-dir", str(spool)]
                    restore_command = " ".join([*(shlex.quote(a) for a in serial), "%f", "%p"])
                archive_command = None
                if req.archive:
                    new_location = location.with_server(new_name)
                    archiving.check_wal_archive(tools, user, new_location, env=env)
                    archive_command = archiving.archive_command(tools, new_location)
                _ensure_postgresql_conf(pgdata, user)
                auto = pgdata / "postgresql.auto.conf"
                text = auto.read_text() if auto.exists() else ""
                auto.write_text(
                    text
                    + ("" if text.endswith("\n") or not text else "\n")
                    + render_auto_conf(
                        target=req.target,
                        restore_command=restore_command,
                        archive_command=archive_command,
                        port=req.port,
                        listen_addresses=req.listen_addresses,
                        socket_dir=str(socket_dir),
                        new_server_name=new_name,
                    )
                )
                user.chown(auto)
                auto.chmod(0o600)
                for stale in ("standby.signal", "postmaster.pid"):
                    (pgdata / stale).unlink(missing_ok=True)
                signal_file = pgdata / "recovery.signal"
                signal_file.touch()
                user.chown(signal_file)
                (pgdata / "log").mkdir(exist_ok=True)
                user.chown(pgdata / "log")
                (pgdata / "log").chmod(0o700)
                step.detail.update(
                    {
                        "restore_command": "prefetch spool + barman-cloud-wal-restore fallback"
                        if req.prefetch
                        else f"barman-cloud-wal-restore -p {req.barman_parallel}"
                        if req.barman_parallel > 1
                        else "barman-cloud-wal-restore (serial)",
                        "archive_mode": result.archive_mode,
                    }
                )
                phases["configure_recovery"] = time.monotonic() - t0

        # ---- 4. WAL fetch + replay ---------------------------------------------------------------
        if already_promoted:
            report.skip_step("WAL fetch + replay", "resumed: the server was already promoted")
            if not server.running():
                server.start(env)
                started_here = True
                if supervisor is not None:
                    supervisor.add_cleanup(f"stop restored postgres {pgdata}", lambda: server.stop("immediate"))
        else:
            with report.step(
                "WAL fetch + replay", prefetch=req.prefetch, parallel=req.parallel if req.prefetch else 1
            ) as step:
                t0 = time.monotonic()
                if req.prefetch and spool.is_dir() and prefetcher is None:
                    prefetcher = Prefetcher(
                        location,
                        spool,
                        user,
                        plan.objects,
                        parallel=req.parallel,
                        max_bytes=req.spool_max_mb * 1024 * 1024,
                    )
                    prefetcher.start()
                if not server.running():
                    server.start(env)
                    started_here = True
                if supervisor is not None:
                    supervisor.add_cleanup(f"stop restored postgres {pgdata}", lambda: server.stop("immediate"))
                wait_promoted(
                    server,
                    timeout=req.timeout_s,
                    progress=progress,
                    spool=spool if req.prefetch else None,
                    planned=len(plan.segments),
                )
                phases["wal_fetch_replay"] = time.monotonic() - t0
                result.promoted_at = utcnow()
                log = server.log_text()
                result.segments_replayed = len(set(_RESTORED.findall(log)))
                if req.prefetch:
                    result.served = served_counts(spool)
                    result.segments_replayed = max(
                        result.segments_replayed,
                        result.served.get("spool", 0) + result.served.get("fallback", 0),
                    )
                step.detail["segments"] = result.segments_replayed
        if prefetcher is not None:
            prefetcher.stop()
            result.prefetch = prefetcher.stats.to_dict()

        # ---- 5. finalize -------------------------------------------------------------------------
        with report.step("finalize") as step:
            t0 = time.monotonic()
            log = server.log_text()
            tlis = _NEW_TLI.findall(log)
            result.new_timeline = int(tlis[-1]) if tlis else None
            with contextlib.suppress(Exception):
                rows = server.query(
                    "SELECT pg_last_xact_replay_timestamp(), "
                    "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
                )
                result.last_replayed_commit = rows[0][0]
                result.new_timeline = rows[0][1]
            if result.promoted_at is None:  # promoted while an earlier run had stopped waiting
                result.promoted_at = _promotion_time(log) or utcnow()
            if result.last_replayed_commit:
                # RPO implied by the restore: what the archive lacked when the restored server took over.
                result.rpo_s = (utcnow() - result.last_replayed_commit).total_seconds()
            _reset_recovery_settings(server, user)
            _record_checks(report, result, req.target, plan, location, log)
            by_name = {o.name: o for o in plan.segments}
            replayed = set(_RESTORED.findall(log))
            result.wal_bytes = (
                sum(by_name[n].size for n in replayed if n in by_name) or 16 * 1024 * 1024 * result.segments_replayed
            )
            shutil.rmtree(spool, ignore_errors=True)
            step.detail["new_timeline"] = result.new_timeline
            phases["finalize"] = time.monotonic() - t0
    except BaseException as exc:
        if prefetcher is not None:
            prefetcher.stop()
        # A timeout leaves the server replaying (re-run resumes); anything else stops what we started.
        if started_here and not isinstance(exc, WaitTimeout):
            with contextlib.suppress(Exception):
                server.stop("immediate")
        raise

    if req.leave_running:
        result.running = server.running()
        result.stop_command = server.stop_command()
    else:
        with report.step("stop restored server"):
            server.stop("fast")
        result.running = False
    phases["total"] = time.monotonic() - t_total
    result.phases_s = phases
    report.result.update(result.to_dict())
    if result.running:
        report.notes.append(
            f"the restored server keeps running on port {req.port} "
            f"(socket {socket_dir}); stop it with: {result.stop_command}"
        )
    return result


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC .*archive recovery complete", re.M)


def _promotion_time(log: str) -> datetime | None:
    """When the server logged "archive recovery complete" (log_line_prefix starting with %m)."""
    found = _LOG_TIME.findall(log)
    if not found:
        return None
    return datetime.fromisoformat(found[-1]).replace(tzinfo=UTC)


_STOPPING = re.compile(r"LOG:\s+(recovery stopping (?:before|after) .*)")


def _record_checks(
    report: Report,
    result: RestoreResult,
    target: Target,
    plan: ReplayPlan,
    location: ArchiveLocation,
    log: str,
) -> None:
    """Checks with evidence: promoted on a new timeline, target reached, source prefix untouched."""
    tli = result.new_timeline
    report.check(
        "promoted_new_timeline",
        bool(tli and tli > plan.target_timeline),
        f"writable on timeline {tli} (the archive's timeline was {plan.target_timeline})",
        new_timeline=tli,
        archive_timeline=plan.target_timeline,
    )
    if target.kind != "latest":
        stopping = _STOPPING.findall(log)
        if stopping:
            report.check("target_reached", True, stopping[-1])
        else:
            report.check(
                "target_reached",
                None,
                "not visible: the server logs elsewhere "
                "(logging_collector); PostgreSQL refuses to promote before the target anyway",
            )
    # Anything on the restored server's timeline under the source's prefix would be our doing.
    ours = [
        o["Key"]
        for o in list_objects(location, location.wals_prefix)
        if tli and o["Key"].rsplit("/", 1)[-1].startswith(f"{tli:08X}")
    ]
    report.check(
        "source_archive_untouched",
        not ours,
        f"no timeline-{tli} WAL under {location.display()}"
        if not ours
        else f"{len(ours)} timeline-{tli} objects under {location.display()}: {ours[:3]}",
    )


def _make_spool_dir(spool: Path, user: OsUser, names: list[str]) -> None:
    Prefetcher.prepare_spool(spool, user, names)


def _download_progress(progress: Progress | None, backup_id: str, pgdata: Path):
    """A callback that reports how much of the base backup is on disk (measured every 2 s)."""
    if progress is None:
        return None
    last = [time.monotonic()]

    def report() -> None:
        if time.monotonic() - last[0] >= 2:
            last[0] = time.monotonic()
            progress.update(f"downloading base backup {backup_id}: {_du(pgdata) / 2**20:.0f} MiB written")

    return report


def _write_state(pgdata: Path, user: OsUser, state: dict[str, Any]) -> None:
    path = pgdata / STATE_FILE
    path.write_text(json.dumps(state, indent=2) + "\n")
    path.chmod(0o600)
    user.chown(path)


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _ensure_postgresql_conf(pgdata: Path, user: OsUser) -> None:
    """Debian-style servers keep postgresql.conf outside PGDATA, so the backup lacks it."""
    conf = pgdata / "postgresql.conf"
    if not conf.exists():
        conf.write_text("# written by idp-dr restore wal: the backup held no postgresql.conf\n")
        user.chown(conf)
    for name, text in (
        ("pg_hba.conf", "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n"),
        ("pg_ident.conf", ""),
    ):
        path = pgdata / name
        if not path.exists():
            path.write_text(text)
            user.chown(path)


def _reset_recovery_settings(server: RestoredServer, user: OsUser) -> None:
    """Drop the recovery-only lines we wrote, so a later crash recovery does not reuse the target."""
    auto = server.pgdata / "postgresql.auto.conf"
    try:
        lines = auto.read_text().splitlines()
    except OSError:
        return
    keep = [ln for ln in lines if not any(ln.startswith(f"{s} = ") for s in RECOVERY_ONLY_SETTINGS)]
    if keep != lines:
        # No reload: these settings only take effect at a restart anyway, and a reload would log
        # "cannot be changed without restarting" for each of them.
        auto.write_text("\n".join(keep) + "\n")
        user.chown(auto)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def register_restore(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "wal",
        parents=[common],
        help="self-managed PITR: restore a barman-cloud base backup and replay archived WAL to a target",
        description="Restore a base backup from a barman-cloud archive (the layout CloudNativePG writes) "
        "into an empty PGDATA, replay archived WAL to the target with parallel prefetch, and promote. "
        "The restored server archives under its own server name, never into the source's prefix.",
        epilog="Exit codes: 0 restored and promoted; 2 bad input or target outside the restorable window "
        "(nothing written); 3 refused for safety (non-empty --pgdata, a server running there, a used "
        "archive prefix; nothing written); 4 timed out (the server keeps replaying: re-run the same command "
        "to resume); 5 S3, barman-cloud or PostgreSQL failed. AWS credentials come from the usual chain "
        "(environment, profile, instance role) and are passed to PostgreSQL for restore/archive_command.",
    )
    src = parser.add_argument_group("source")
    src.add_argument(
        "--archive",
        required=True,
        metavar="s3://BUCKET/PREFIX",
        help="the archive's URL (barman-cloud's source_url)",
    )
    src.add_argument("--server-name", required=True, metavar="NAME", help="the source server's name in the archive")
    src.add_argument(
        "--backup-id",
        default="latest",
        metavar="latest|ID",
        help="base backup to start from (default: latest, the newest usable backup before the target)",
    )
    src.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS S3 for the region)")
    tgt = parser.add_argument_group("target (exactly one)").add_mutually_exclusive_group(required=True)
    tgt.add_argument(
        "--time",
        metavar="T",
        help="ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z; the last commit at or before T is kept",
    )
    tgt.add_argument("--xid", metavar="XID", help="transaction id; recovery stops after its commit")
    tgt.add_argument("--name", metavar="N", help="restore point created with pg_create_restore_point()")
    tgt.add_argument("--latest", action="store_true", help="replay all archived WAL")
    dst = parser.add_argument_group("restored server")
    dst.add_argument(
        "--pgdata",
        required=True,
        type=Path,
        metavar="DIR",
        help="new data directory: must be empty or absent (owned by the PostgreSQL OS user, 0700)",
    )
    dst.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    dst.add_argument(
        "--listen-addresses",
        default="127.0.0.1",
        help="listen_addresses of the restored server (default: 127.0.0.1)",
    )
    dst.add_argument(
        "--socket-dir",
        type=Path,
        metavar="DIR",
        help="unix_socket_directories (default: /var/run/postgresql, else /tmp)",
    )
    dst.add_argument(
        "--new-server-name",
        metavar="NAME",
        help="server name the restored server archives under (default: <server-name>-restored-"
        "<UTC timestamp>); must be unused and differ from --server-name",
    )
    dst.add_argument("--no-archive", action="store_true", help="archive_mode = off on the restored server")
    dst.add_argument(
        "--stop-after",
        action="store_true",
        help="stop the restored server after promotion (default: leave it running)",
    )
    wal = parser.add_argument_group("WAL fetch")
    wal.add_argument(
        "--no-prefetch",
        action="store_true",
        help="plain serial barman-cloud-wal-restore per segment (slower; for comparison)",
    )
    wal.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        help=f"parallel segment downloads, 1-64 (default: {DEFAULT_PARALLEL})",
    )
    wal.add_argument(
        "--spool-max-mb",
        type=int,
        default=DEFAULT_SPOOL_MB,
        help=f"most MiB of prefetched WAL waiting on disk (default: {DEFAULT_SPOOL_MB})",
    )
    wal.add_argument("--spool-dir", type=Path, metavar="DIR", help="prefetch spool (default: <pgdata>.wal-spool)")
    run_opts = parser.add_argument_group("run")
    run_opts.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"longest wait for promotion (default: {DEFAULT_TIMEOUT_S:.0f})",
    )
    run_opts.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the plan (backup, window, WAL to replay); write nothing",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    target = Target.from_options(time=args.time, xid=args.xid, name=args.name, latest=args.latest)
    request = RestoreRequest(
        archive_url=args.archive,
        server_name=args.server_name,
        pgdata=args.pgdata,
        target=target,
        backup_id=args.backup_id,
        endpoint_url=args.endpoint_url,
        new_server_name=args.new_server_name,
        archive=not args.no_archive,
        port=args.port,
        listen_addresses=args.listen_addresses,
        socket_dir=args.socket_dir,
        prefetch=not args.no_prefetch,
        parallel=args.parallel,
        spool_max_mb=args.spool_max_mb,
        spool_dir=args.spool_dir,
        timeout_s=args.timeout,
        leave_running=not args.stop_after,
        dry_run=args.dry_run,
    )
    progress = Progress("restore wal", enabled=not args.quiet, min_interval=5.0)
    restore_wal(request, report, progress=progress)
    if not args.dry_run:
        progress.done("restored and promoted")
