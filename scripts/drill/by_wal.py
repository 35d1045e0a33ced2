"""The local drill by WAL: a base backup, WAL archived with barman-cloud, a point-in-time restore.

after load       a base backup of the primary (after ``--data-mb`` of filler)
before workload  ``--wal-mb`` of WAL generated after it
before crash     the archive holds WAL past the target, then half an archive_timeout of writes
recover          ``restore wal`` to the target into a fresh data directory (base backup, WAL
                 replay with prefetch, promotion): two RTO bars, base backup and replay
RPO              the last commit on the primary minus the newest commit in the archive
"""

from __future__ import annotations

import time
from datetime import datetime

from scripts.drill.base import DrillBase, Phase, _Lab
from scripts.drill.chart import Span
from scripts.drill.data import generate_wal
from scripts.drill.names import SERVER
from scripts.pg.osuser import make_user_dir
from scripts.processes import free_port
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.wal.recovery import Target as RecoveryTarget
from scripts.restore.wal.request import RestoreRequest
from scripts.restore.wal.restore import restore_wal
from scripts.timeutil import iso
from scripts.wal import archive


class WalDrill(DrillBase):
    method = "wal"
    title = "idp-dr local drill: Keycloak PITR restore"
    rto_parts = (
        ("restore_base_s", "restore base"),
        ("replay_wal_s", "replay WAL"),
        ("keycloak_ready_s", "Keycloak ready"),
        ("verify_s", "verify"),
    )

    def after_load(self) -> tuple[Phase, ...]:
        return (self._take_base_backup,)

    def before_workload(self) -> tuple[Phase, ...]:
        return (self._generate_wal,)

    def recover(self) -> tuple[Phase, ...]:
        return (self._restore,)

    def before_crash(self, lab: _Lab) -> None:
        opts = self.opts
        # The archive must hold WAL past the target, or no restore to it is possible. What counts
        # is the segment's content, not when it was archived (a backlog archives old WAL late) ...
        archive.wait_archived(
            lab.primary.execute, lab.after_target_segment, timeout=opts.archive_timeout_s * 4 + 60 + opts.wal_mb
        )
        # ... then the incident runs on for half an archive_timeout while writes continue, so the
        # crash lands mid-segment and the measured RPO is what archiving really loses.
        time.sleep(opts.archive_timeout_s / 2)

    def measure_rpo(self, lab: _Lab) -> dict:
        window = lab.result.window or {}
        archived = window.get("latest")
        archived_at = datetime.fromisoformat(archived.replace("Z", "+00:00")) if isinstance(archived, str) else archived
        last = lab.last_primary_commit
        rpo = max((last - archived_at).total_seconds(), 0.0) if archived_at else None
        return {
            "definition": "last commit on the primary before the crash minus the newest commit in the archive "
            "(what a restore to the latest point would lose)",
            "last_primary_commit": iso(last),
            "last_archived_commit": iso(archived_at) if archived_at else None,
            "rpo_s": None if rpo is None else round(rpo, 3),
            "archive_timeout_s": self.opts.archive_timeout_s,
            "bounded_by": f"archive_timeout {self.opts.archive_timeout_s} s",
            "target_covered_by_archive": bool(archived_at and archived_at >= self.target),
        }

    def _take_base_backup(self, lab: _Lab) -> None:
        """A base backup of the primary."""
        report = self.report
        with self.phase("prepare: base backup", "setup"):
            lab.backup_id = archive.take_base_backup(
                lab.tools, lab.user, lab.location, socket_dir=lab.primary.socket_dir, port=lab.primary.port, env=lab.env
            )
            report.result["base_backup"] = lab.backup_id

    def _generate_wal(self, lab: _Lab) -> None:
        """WAL after the base backup (--wal-mb)."""
        opts = self.opts
        if opts.wal_mb:
            with self.phase("prepare: generate WAL", "setup"):
                generate_wal(lab.primary, opts.wal_mb)
                self.say(f"generated about {opts.wal_mb} MiB of WAL after the base backup")

    def _restore(self, lab: _Lab) -> None:
        """Restore + replay WAL to the target (the RTO's restore phases)."""
        opts = self.opts
        report = self.report
        with self.phase("recover: restore + replay WAL", "recovery"):
            lab.pgdata = self.workspace / "restored" / "data"
            lab.socket_dir = make_user_dir(self.workspace / "restored-sock", lab.user, 0o755)
            lab.request = RestoreRequest(
                archive_url=lab.location.url,
                server_name=SERVER,
                pgdata=lab.pgdata,
                target=RecoveryTarget.from_options(time=iso(self.target)),
                endpoint_url=lab.s3.endpoint_url,
                port=free_port(),
                socket_dir=lab.socket_dir,
                timeout_s=opts.restore_timeout_s,
                env=lab.env,
                prefetch_during_base=opts.wal_prefetch_during_base,
            )
            lab.restore_report = Report("restore wal")
            lab.result = restore_wal(
                lab.request,
                lab.restore_report,
                supervisor=self.supervisor,
                progress=Progress("restore wal", enabled=opts.progress),
            )
            self.log_paths.append(("restored-postgres.log", lab.pgdata / "log" / "idp-dr-restore.log"))
            self._absorb(lab.restore_report, "restore")
        lab.restored_at = self.clock.now()
        lab.restored_port = lab.result.port
        lab.phases = lab.result.phases_s
        self.rto["restore_base_s"] = sum(
            lab.phases.get(k, 0.0) for k in ("validate", "fetch_base_backup", "configure_recovery")
        )
        self.rto["replay_wal_s"] = lab.restored_at - lab.declared - self.rto["restore_base_s"]
        # One bar per RTO phase: the restore step becomes "base backup" and "WAL replay + promote".
        lab.restore_span = self.clock.spans.pop()
        lab.split = lab.restore_span.start_s + self.rto["restore_base_s"]
        self.clock.spans += [
            Span("recover: restore base backup", lab.restore_span.start_s, lab.split, "recovery"),
            Span("recover: replay WAL + promote", lab.split, lab.restore_span.end_s, "recovery"),
        ]
        report.result["restore"] = {
            k: v
            for k, v in lab.result.to_dict().items()
            if k
            in (
                "backup",
                "window",
                "new_timeline",
                "segments_replayed",
                "wal_bytes_fetched",
                "phases_s",
                "new_server_name",
            )
        }
