"""Phases 2-5 of ``restore wal``: fetch the base backup, configure recovery, replay, finalize.

:class:`RestoreRun` holds what the phases share (the prefetcher, the server, the result); each
phase is one method and one step of the report. :func:`scripts.restore.wal.restore.restore_wal`
calls them in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scripts.errors import ExternalError, WaitTimeout
from scripts.pg.osuser import OsUser
from scripts.pg.tools import PgTools
from scripts.processes import Supervisor
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.wal.prefetch import Prefetcher, render_restore_script, served_counts
from scripts.restore.wal.recovery import Target, render_auto_conf, restore_command_line, without_recovery_settings
from scripts.restore.wal.request import (
    BASE_RESTORE_TIMEOUT_S,
    RESTORE_SCRIPT_NAME,
    STATE_FILE,
    RestoreRequest,
    RestoreResult,
)
from scripts.restore.wal.server import NEW_TLI, RESTORED, RestoredServer, promotion_time, server_env, wait_promoted
from scripts.restore.wal.validate import Validated
from scripts.timeutil import iso, utcnow
from scripts.wal import archive as archiving
from scripts.wal import base_fetch
from scripts.wal.catalog import ReplayPlan, list_objects
from scripts.wal.location import ArchiveLocation


@dataclass
class RestoreRun:
    """One restore after validation: the phases in order, and what to undo if one fails."""

    req: RestoreRequest
    report: Report
    found: Validated
    server: RestoredServer
    spool: Path
    result: RestoreResult
    phases: dict[str, float]
    progress: Progress | None = None
    supervisor: Supervisor | None = None
    prefetcher: Prefetcher | None = None
    started_here: bool = False
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pgdata(self) -> Path:
        return self.server.pgdata

    @property
    def plan(self) -> ReplayPlan:
        assert self.found.plan is not None
        return self.found.plan

    @property
    def tools(self) -> PgTools:
        assert self.found.tools is not None
        return self.found.tools

    def __post_init__(self) -> None:
        self.env = server_env(self.req)

    # ---- the WAL prefetcher (started once, before the base backup or before replay) -------------
    def start_prefetch(self, width: int | None = None) -> None:
        self.prefetcher = Prefetcher(
            self.found.location,
            self.spool,
            self.found.user,
            self.plan.objects,
            parallel=self.req.parallel,
            max_bytes=self.req.spool_max_mb * 1024 * 1024,
            width=width,
        )
        self.prefetcher.start()

    def prefetch_during_base(self) -> None:
        """WAL downloads overlap the base backup download, one at a time so that the base (which replay
        waits for) keeps the bandwidth and the CPUs; :meth:`fetch_base_backup` widens it once the base is in."""
        if self.req.prefetch and self.req.prefetch_during_base and not self.found.resumed:
            if not self.spool.is_dir():
                Prefetcher.prepare_spool(self.spool, self.found.user, [])
            self.start_prefetch(width=1)

    def stop_prefetch(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.stop()
            self.result.prefetch = self.prefetcher.stats.to_dict()

    # ---- 2. fetch base backup --------------------------------------------------------------------
    def fetch_base_backup(self) -> None:
        backup = self.found.backup
        assert backup is not None
        if self.found.resumed:
            self.report.skip_step("fetch base backup", "resumed: already restored by an earlier run")
            return
        with self.report.step("fetch base backup", backup_id=backup.backup_id) as step:
            t0 = time.monotonic()
            if self.progress:
                self.progress.update(f"downloading base backup {backup.backup_id}")
            user, pgdata = self.found.user, self.pgdata
            pgdata.mkdir(parents=True, exist_ok=True)
            pgdata.chmod(0o700)
            user.chown(pgdata)
            step.detail.update(self._fetch_base(backup, pgdata))
            base_fetch.check_restored(backup.backup_id, pgdata)
            _write_state(
                pgdata,
                user,
                {
                    "fingerprint": self.req.fingerprint(),
                    "new_server_name": self.found.new_name,
                    "backup_id": backup.backup_id,
                    "target": self.req.target.describe(),
                    "started_at": iso(utcnow()),
                },
            )
            if self.prefetcher is not None:
                self.prefetcher.widen()
            step.detail["bytes"] = _du(pgdata)
            if self.prefetcher is not None:
                step.detail["wal_files_prefetched_meanwhile"] = self.prefetcher.stats.fetched
            self.phases["fetch_base_backup"] = time.monotonic() - t0

    def _fetch_base(self, backup: Any, pgdata: Path) -> dict[str, Any]:
        """Parallel ranged GETs into ``tar`` (:mod:`scripts.wal.base_fetch`), or barman-cloud-restore for what
        that does not read (tablespaces, snappy/lz4) and with ``--base-fetch barman``."""
        user, location = self.found.user, self.found.location
        why = "--base-fetch barman"
        if self.req.base_fetch == "parallel":
            client = location.client()
            tars = self.found.base_tars or base_fetch.backup_tars(location, backup.backup_id, client)
            why = base_fetch.supported(backup.info, tars) or ""
            if not why:
                stats = base_fetch.extract(location, tars, pgdata, user, client=client,
                                           threads=self.req.base_fetch_threads)  # fmt: skip
                return {"fetched_by": base_fetch.describe(tars, self.req.base_fetch_threads), **stats.to_dict()}
        proc = archiving.run_barman(
            self.tools,
            user,
            "barman-cloud-restore",
            [*location.barman_args(), location.url, location.server_name, backup.backup_id, str(pgdata)],
            env=self.env,
            timeout=BASE_RESTORE_TIMEOUT_S,
            on_wait=_download_progress(self.progress, backup.backup_id, pgdata),
        )
        if proc.returncode != 0:
            raise ExternalError(
                f"barman-cloud-restore of {backup.backup_id} failed: {archiving.tail(proc)}",
                hint=f"empty {pgdata} before re-running",
            )
        return {"fetched_by": f"barman-cloud-restore ({why})"}

    # ---- 3. configure recovery -------------------------------------------------------------------
    def configure_recovery(self) -> None:
        if self.found.resumed:
            return
        with self.report.step("configure recovery") as step:
            t0 = time.monotonic()
            restore_command = self._restore_command()
            archive_command = None
            if self.req.archive:
                new_location = self.found.location.with_server(self.found.new_name)
                archiving.check_wal_archive(self.tools, self.found.user, new_location, env=self.env)
                archive_command = archiving.archive_command(self.tools, new_location)
            self._write_recovery_files(restore_command, archive_command)
            step.detail.update(
                {"restore_command": self._describe_restore_command(), "archive_mode": self.result.archive_mode}
            )
            self.phases["configure_recovery"] = time.monotonic() - t0

    def _restore_command(self) -> str:
        location, user = self.found.location, self.found.user
        fallback = [
            self.tools.exe("barman-cloud-wal-restore"),
            *location.barman_args(),
            location.url,
            location.server_name,
        ]
        if self.req.prefetch:
            assert self.found.catalog is not None
            Prefetcher.prepare_spool(self.spool, user, [o.name for o in self.found.catalog.wal])
            script = self.spool / RESTORE_SCRIPT_NAME
            script.write_text(render_restore_script(self.spool, fallback))
            script.chmod(0o755)
            return restore_command_line(str(script))
        serial = list(fallback)
        if self.req.barman_parallel > 1:
            # barman-cloud's own look-ahead: still one Python start per segment.
            Prefetcher.prepare_spool(self.spool, user, [])
            serial[1:1] = ["-p", str(self.req.barman_parallel), "--spool-dir", str(self.spool)]
        return " ".join([*(shlex.quote(a) for a in serial), "%f", "%p"])

    def _describe_restore_command(self) -> str:
        if self.req.prefetch:
            return "prefetch spool + barman-cloud-wal-restore fallback"
        if self.req.barman_parallel > 1:
            return f"barman-cloud-wal-restore -p {self.req.barman_parallel}"
        return "barman-cloud-wal-restore (serial)"

    def _write_recovery_files(self, restore_command: str, archive_command: str | None) -> None:
        pgdata, user = self.pgdata, self.found.user
        _ensure_postgresql_conf(pgdata, user)
        auto = pgdata / "postgresql.auto.conf"
        text = auto.read_text() if auto.exists() else ""
        auto.write_text(
            text
            + ("" if text.endswith("\n") or not text else "\n")
            + render_auto_conf(
                target=self.req.target,
                restore_command=restore_command,
                archive_command=archive_command,
                port=self.req.port,
                listen_addresses=self.req.listen_addresses,
                socket_dir=str(self.found.socket_dir),
                new_server_name=self.found.new_name,
                init_sync=self.req.init_sync,
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

    # ---- 4. WAL fetch + replay -------------------------------------------------------------------
    def replay(self, already_promoted: bool) -> None:
        if already_promoted:
            self.report.skip_step("WAL fetch + replay", "resumed: the server was already promoted")
            if not self.server.running():
                self._start_server()
            return
        parallel = self.req.parallel if self.req.prefetch else 1
        with self.report.step("WAL fetch + replay", prefetch=self.req.prefetch, parallel=parallel) as step:
            t0 = time.monotonic()
            if self.req.prefetch and self.spool.is_dir() and self.prefetcher is None:
                self.start_prefetch()
            if self.server.running():
                self._stop_with_supervisor()
            else:
                self._start_server()
            wait_promoted(
                self.server,
                timeout=self.req.timeout_s,
                progress=self.progress,
                spool=self.spool if self.req.prefetch else None,
                planned=len(self.plan.segments),
            )
            self.phases["wal_fetch_replay"] = time.monotonic() - t0
            self.result.promoted_at = utcnow()
            self._count_replayed()
            step.detail["segments"] = self.result.segments_replayed

    def _start_server(self) -> None:
        self.server.start(self.env)
        self.started_here = True
        self._stop_with_supervisor()

    def _stop_with_supervisor(self) -> None:
        if self.supervisor is not None:
            server = self.server
            self.supervisor.add_cleanup(f"stop restored postgres {server.pgdata}", lambda: server.stop("immediate"))

    def _count_replayed(self) -> None:
        result = self.result
        result.segments_replayed = len(set(RESTORED.findall(self.server.log_text())))
        if self.req.prefetch:
            result.served = served_counts(self.spool)
            result.segments_replayed = max(
                result.segments_replayed, result.served.get("spool", 0) + result.served.get("fallback", 0)
            )

    # ---- 5. finalize -----------------------------------------------------------------------------
    def finalize(self) -> None:
        result, server = self.result, self.server
        with self.report.step("finalize") as step:
            t0 = time.monotonic()
            log = server.log_text()
            tlis = NEW_TLI.findall(log)
            result.new_timeline = int(tlis[-1]) if tlis else None
            rows = _query_when_ready(
                server,
                "SELECT pg_last_xact_replay_timestamp(), "
                "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, "
                "pg_walfile_name(pg_current_wal_lsn())",
            )
            if rows:
                result.last_replayed_commit, result.new_timeline, result.ended_in_segment = rows[0]
            # NULL once the promoted server has restarted (no recovery in this lifetime): its log still says.
            result.last_replayed_commit = result.last_replayed_commit or last_commit_in_log(log)
            if result.promoted_at is None:  # promoted while an earlier run had stopped waiting
                result.promoted_at = promotion_time(log) or utcnow()
            if result.last_replayed_commit:
                # RPO implied by the restore: what the archive lacked when the restored server took over.
                result.rpo_s = (utcnow() - result.last_replayed_commit).total_seconds()
            _reset_recovery_settings(server, self.found.user)
            _record_checks(self.report, result, self.req.target, self.plan, self.found.location, log)
            by_name = {o.name: o for o in self.plan.segments}
            replayed = set(RESTORED.findall(log))
            result.wal_bytes = (
                sum(by_name[n].size for n in replayed if n in by_name) or 16 * 1024 * 1024 * result.segments_replayed
            )
            shutil.rmtree(self.spool, ignore_errors=True)
            step.detail["new_timeline"] = result.new_timeline
            self.phases["finalize"] = time.monotonic() - t0

    def abandon(self, exc: BaseException) -> None:
        """A phase failed: stop the prefetcher, and the server unless it keeps replaying after a timeout."""
        if self.prefetcher is not None:
            self.prefetcher.stop()
        # A timeout leaves the server replaying (re-run resumes); anything else stops what we started.
        if self.started_here and not isinstance(exc, WaitTimeout):
            with contextlib.suppress(Exception):
                self.server.stop("immediate")


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
    if target.kind == "latest":
        _check_replayed_to_end(report, result, plan)
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


def _check_replayed_to_end(report: Report, result: RestoreResult, plan: ReplayPlan) -> None:
    """To the latest WAL, replay must reach the archive's last segment. PostgreSQL ends recovery at the
    first record it cannot read and promotes there: a damaged or truncated segment would otherwise pass
    as the end of the archive (the last segment itself cannot be told from WAL still being written)."""
    last, ended = plan.last_segment, result.ended_in_segment
    if last is None or ended is None:
        report.check("replayed_to_archive_end", None, "not measured (no archived WAL after the backup, or no answer)")
        return
    reached = ended[8:] >= last.name[8:]
    later = [o.name for o in plan.segments if o.name[8:] > ended[8:]]
    report.check(
        "replayed_to_archive_end",
        reached,
        f"replay reached the archive's last segment {last.name} (the new timeline starts in {ended})"
        if reached
        else f"replay stopped in segment {ended[8:]} (timeline {int(ended[:8], 16)}), before the archive's last "
        f"segment {last.name}: PostgreSQL could not read the WAL there (a damaged or truncated segment); "
        f"{len(later)} later segment(s) were not replayed",
        ended_in=ended,
        archive_last=last.name,
        not_replayed=later[:10],
    )


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
    """Drop the recovery-only lines, so a later crash recovery does not reuse the target."""
    auto = server.pgdata / "postgresql.auto.conf"
    try:
        text = auto.read_text()
    except OSError:
        return
    keep = without_recovery_settings(text)
    if keep != text:
        # No reload: these settings only take effect at a restart anyway, and a reload would log
        # "cannot be changed without restarting" for each of them.
        auto.write_text(keep)
        user.chown(auto)


_LAST_COMMIT = re.compile(
    r"last completed transaction was at log time (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d)"
)


def last_commit_in_log(log: str) -> datetime | None:
    """The end of recovery's "last completed transaction was at log time ..." (the newest such line)."""
    found = _LAST_COMMIT.findall(log)
    if not found:
        return None
    return datetime.fromisoformat(found[-1] + (":00" if re.search(r"[+-]\d\d$", found[-1]) else ""))


def _query_when_ready(server: RestoredServer, sql: str, *, timeout: float = 15.0) -> list[tuple] | None:
    """Right after a promotion (or a resumed run's start) the server may refuse connections for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return server.query(sql)
        except Exception:  # noqa: BLE001 - any failure here is "not ready yet" until the deadline
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
