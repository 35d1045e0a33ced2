"""Phase 1 of ``restore wal``, read-only: the request, PGDATA, the archive, the window, the backup.

Nothing is written before :func:`validate` has passed (except the scan spool for an xid or name
target, removed again when validation fails).
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scripts.errors import ExternalError, InputError, RefusedError
from scripts.pg.bindir import find_pg_bindir
from scripts.pg.osuser import OsUser, pg_os_user
from scripts.pg.tools import PgTools, ensure_pgtools
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.wal.prefetch import Prefetcher
from scripts.restore.wal.recovery import INIT_SYNC_METHODS, Target, Window, check_time_in_window
from scripts.restore.wal.request import STATE_FILE, RestoreRequest
from scripts.restore.wal.server import postmaster_pid
from scripts.timeutil import iso, utcnow
from scripts.wal import base_fetch, waldump
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


def check_pgdata_path(pgdata: Path) -> Path:
    """A directory below the root: the restore creates it (and a spool beside it), never in '/'."""
    if not pgdata.name:
        raise InputError(
            "--pgdata",
            str(pgdata),
            "a directory below the file-system root for the restored cluster, e.g. /var/lib/postgresql/16/restore",
        )
    return pgdata


def _check_pgdata(pgdata: Path, fingerprint: str) -> dict[str, Any] | None:
    """None when PGDATA may be restored into; the saved state when this is our own restore to resume."""
    if pgdata.exists() and not pgdata.is_dir():
        raise InputError("--pgdata", str(pgdata), "a directory path (this is a file)")
    pid = postmaster_pid(pgdata) if pgdata.is_dir() else None
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
    if req.base_fetch not in ("parallel", "barman"):
        raise InputError("--base-fetch", req.base_fetch, "parallel or barman")
    if req.init_sync not in INIT_SYNC_METHODS:
        raise InputError("--init-sync", req.init_sync, " or ".join(INIT_SYNC_METHODS))
    if not 1 <= req.base_fetch_threads <= 64:
        raise InputError("--base-threads", req.base_fetch_threads, "an integer from 1 to 64")
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


@dataclass
class Validated:
    """What validation decided: where from, which backup and WAL, as whom, and whether this resumes."""

    location: ArchiveLocation
    new_name: str
    resume_state: dict[str, Any] | None
    user: OsUser
    pg_bindir: Path
    catalog: Catalog | None = None
    backup: Backup | None = None
    plan: ReplayPlan | None = None
    window: Window | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tools: PgTools | None = None
    socket_dir: Path = Path("/tmp")  # noqa: S108 - replaced by validate()
    #: The chosen backup's PGDATA tars, checked whole (a fresh restore only).
    base_tars: list[base_fetch.TarObject] | None = None
    #: WAL was downloaded into the spool to find an xid or name target.
    scan_used_spool: bool = False
    seconds: float = 0.0

    @property
    def resumed(self) -> bool:
        return self.resume_state is not None


def validate(
    req: RestoreRequest,
    report: Report,
    *,
    pgdata: Path,
    spool: Path,
    progress: Progress | None,
    tools: PgTools | None,
) -> Validated:
    """Phase 1: everything checked, nothing restored (the "validate" step)."""
    found: Validated | None = None
    try:
        with report.step("validate") as step:
            t0 = time.monotonic()
            found = _check_request(req, pgdata)
            if found.resumed:
                step.status = "resumed"
            _choose_backup(req, found, spool, progress, report)
            _check_base_parts(found)
            _check_new_archive_prefix(req, found)
            if not found.resumed:
                _check_port_free(req.port, req.listen_addresses)
            found.tools = tools or ensure_pgtools(found.user, log=lambda m: progress.update(m) if progress else None)
            found.socket_dir = Path(req.socket_dir) if req.socket_dir else _default_socket_dir()
            assert found.backup is not None and found.plan is not None
            step.detail.update(
                {
                    "backup_id": found.backup.backup_id,
                    "target": req.target.describe(),
                    "segments_planned": len(found.plan.segments),
                    "window": found.window.to_dict() if found.window else None,
                    **found.extra,
                }
            )
            found.seconds = time.monotonic() - t0
    except BaseException:
        if found is not None and found.scan_used_spool:  # WAL downloaded to check an xid/name target
            shutil.rmtree(spool, ignore_errors=True)
        raise
    return found


def _check_request(req: RestoreRequest, pgdata: Path) -> Validated:
    """Numbers, the archive URL, the restored server's name, PGDATA (or this restore to resume)."""
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
        new_name = resume_state.get("new_server_name") or new_name
    return Validated(location, new_name, resume_state, pg_os_user(), find_pg_bindir())


def _choose_backup(
    req: RestoreRequest, found: Validated, spool: Path, progress: Progress | None, report: Report
) -> None:
    """The backup to start from and the WAL to replay, checked against the restorable window."""
    found.catalog = catalog = _load_catalog(found.location)
    explicit = None if req.backup_id in ("latest", "", None) else _explicit_backup(catalog, req.backup_id)
    newest = explicit or catalog.usable_backups[-1]
    newest_plan = replay_plan(catalog, newest)
    latest = _latest_commit(found.location, newest_plan, found.pg_bindir)
    found.window = _window(catalog, explicit, latest) if latest else None
    if req.target.kind == "time":
        if found.window is None:
            raise InputError(
                "--time",
                req.target.value,
                "a time with archived WAL after a backup; this archive holds no WAL after its backups",
            )
        _check_time_before_gap(req.target, newest_plan, found)
        check_time_in_window(req.target, found.window)
        found.backup = explicit or _pick_backup_for_time(catalog, req.target)
        found.plan = newest_plan if found.backup is newest else replay_plan(catalog, found.backup)
    elif req.target.kind in ("xid", "name"):
        if not found.resumed:
            Prefetcher.prepare_spool(spool, found.user, [])
            found.scan_used_spool = True
        found.backup, found.plan, found.extra = _scan_for_target(
            found.location, catalog, req.target, explicit, found.pg_bindir, spool, found.user, req.parallel, progress
        )
    else:
        found.backup, found.plan = newest, newest_plan
    _check_continuity(req, found, report)


def _gap_text(plan: ReplayPlan, location: ArchiveLocation) -> str:
    beyond = plan.beyond_gap
    return (
        f"WAL segment {plan.missing} is missing from {location.display()}: {len(beyond)} archived segment(s) "
        f"after it ({beyond[0].name}..{beyond[-1].name}, the newest uploaded {iso(beyond[-1].last_modified)}) "
        "cannot be replayed"
    )


def _check_time_before_gap(target: Target, plan: ReplayPlan, found: Validated) -> None:
    """A time past a hole in the archive is unreachable: say which segment is missing."""
    window = found.window
    if not plan.beyond_gap or window is None or target.time is None or target.time <= window.latest:
        return
    raise InputError(
        "--time",
        target.value,
        f"a time up to {iso(window.latest)}, the last commit before a hole in the archive: "
        + _gap_text(plan, found.location),
        hint="put the missing segment back (a failed upload, a lifecycle rule, a replication gap) and re-run; "
        "nothing was changed",
    )


def _check_continuity(req: RestoreRequest, found: Validated, report: Report) -> None:
    """The WAL from the backup to the target is contiguous; a hole is refused, never promoted at silently."""
    plan, backup = found.plan, found.backup
    assert plan is not None and backup is not None
    if not plan.reaches_backup_end:
        raise RefusedError(
            f"backup {backup.backup_id} cannot be restored: WAL segment {plan.missing} (needed to make it "
            f"consistent) is missing from {found.location.display()}",
            hint="restore an older backup with --backup-id, or put the segment back; nothing was changed",
        )
    if not plan.beyond_gap:
        return
    gap = _gap_text(plan, found.location)
    reachable = iso(found.window.latest) if found.window else None
    report.result["wal_gap"] = {
        "missing_segment": plan.missing,
        "segments_after_it": len(plan.beyond_gap),
        "bytes_after_it": sum(o.size for o in plan.beyond_gap),
        "newest_after_it_uploaded": iso(plan.beyond_gap[-1].last_modified),
        "last_reachable_commit": reachable,
    }
    if req.target.kind != "latest":
        report.notes.append(f"the archive has a hole: {gap}; the target lies before it")
    elif not req.accept_wal_gap:
        raise RefusedError(
            f"refusing to restore to the latest WAL: {gap}; the last commit that can be reached is {reachable}",
            hint="put the segment back and re-run; or restore to that commit with --time, or pass "
            "--accept-wal-gap to promote at the gap (the report states what is lost); nothing was changed",
        )
    else:
        report.notes.append(f"--accept-wal-gap: promoted at the hole, losing what follows it: {gap}")


def _check_base_parts(found: Validated) -> None:
    """The chosen backup's parts are all there (either fetch would restore the rest without a word)."""
    if found.resumed:
        return
    assert found.backup is not None
    found.base_tars = base_fetch.backup_tars(found.location, found.backup.backup_id, found.location.client())
    base_fetch.check_whole(found.location, found.backup.backup_id, found.base_tars)


def _check_new_archive_prefix(req: RestoreRequest, found: Validated) -> None:
    """The restored server's own archive prefix must be unused (a fresh restore only)."""
    if not req.archive or found.resumed:
        return
    new_location = found.location.with_server(found.new_name)
    used = list_objects(new_location, new_location.server_prefix)
    if used:
        raise RefusedError(
            f"refusing to archive the restored server into {new_location.display()}: "
            f"that prefix already holds {len(used)} objects",
            hint="pass an unused --new-server-name (or --no-archive); nothing was changed",
        )
