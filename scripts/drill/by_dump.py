"""The local drill by logical dump: ``backup dump`` during the workload, ``restore dump`` after the crash.

at the target  ``backup dump`` of the primary into the archive bucket, verified where it landed
               (read back, SHA-256, ``pg_restore --list``), while the workload is paused, so
               every marker is unambiguously in the dump or not
recover        a new PostgreSQL server with the app role, then ``restore dump --dump latest``
               onto it: preflight (manifest, checksum, versions), drop and recreate the
               database owned by the app role, ``pg_restore --no-owner --no-privileges``
RPO            the last commit on the primary minus the newest commit in the restored dump:
               what a daily dump loses is up to a day, here it is the drill's workload after it
"""

from __future__ import annotations

from psycopg import sql

from scripts.backup.dump import DumpRequest, backup_dump
from scripts.backup.restore import RestoreRequest, restore_dump
from scripts.drill.base import DrillBase, Phase, _Lab
from scripts.drill.names import BUCKET, DB_NAME, DB_USER, PREFIX
from scripts.errors import ExternalError
from scripts.lab.postgres import PgCluster
from scripts.report import Report
from scripts.timeutil import iso, parse_iso
from scripts.wal.location import s3_client


class DumpDrill(DrillBase):
    method = "dump"
    title = "idp-dr local drill: Keycloak restored from a logical dump"
    rto_parts = (
        ("new_server_s", "new PostgreSQL server"),
        ("restore_dump_s", "restore dump"),
        ("keycloak_ready_s", "Keycloak ready"),
        ("verify_s", "verify"),
    )

    def at_target(self, lab: _Lab) -> None:
        """The dump, taken in the workload's quiet gap (the target is just before it starts)."""
        sub = Report("backup dump")
        lab.s3_client = s3_client(lab.s3.endpoint_url)
        lab.dump = backup_dump(DumpRequest(idp="keycloak", conninfo=lab.primary_dsn, bucket=BUCKET, prefix=PREFIX),
                               lab.s3_client, sub)  # fmt: skip
        self._absorb(sub, "backup")
        manifest = lab.dump["manifest"]
        self.report.result["dump"] = {
            "key": manifest["key"], "bytes": manifest["size_bytes"], "started_at": manifest["started_at"],
            "ended_at": manifest["ended_at"], "idp_version": manifest["idp_version"],
            "seconds": round(sum(s.duration_s or 0.0 for s in sub.steps), 3),
        }  # fmt: skip
        self.say(f"dumped {manifest['size_bytes']} bytes to s3://{BUCKET}/{manifest['key']} (verified)")

    def recover(self) -> tuple[Phase, ...]:
        return (self._new_server, self._restore_dump)

    def _new_server(self, lab: _Lab) -> None:
        """A new, empty PostgreSQL server with the app role (what a rebuilt RDS instance would be)."""
        with self.phase("recover: new PostgreSQL server", "recovery"):
            lab.restored = PgCluster.create(self.workspace, "restored", supervisor=self.supervisor)
            self.log_paths.append(("restored-postgres.log", lab.restored.log_path))
            lab.restored.start(env=lab.env)
            role = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(DB_USER), sql.Literal(lab.db_password)
            )
            lab.restored.execute(role.as_string(None))
        self.rto["new_server_s"] = self.clock.now() - lab.declared

    def _restore_dump(self, lab: _Lab) -> None:
        """``restore dump --dump latest`` onto the new server, as an operator runs it."""
        t0 = self.clock.now()
        with self.phase("recover: restore dump", "recovery"):
            admin = lab.restored.tcp_dsn("postgres", "postgres", lab.restored.superuser_password)
            self.report.register_secret(lab.restored.superuser_password)
            request = RestoreRequest(
                bucket=BUCKET, prefix=PREFIX, dump="latest", before=None, admin_conninfo=admin, dbname=DB_NAME,
                owner=DB_USER, app_version=lab.build.version, yes=True,
            )  # fmt: skip
            sub = Report("restore dump")
            restored = restore_dump(request, lab.s3_client, sub)
            self._absorb(sub, "restore")
            if restored["dump"] != f"s3://{BUCKET}/{lab.dump['manifest']['key']}":
                raise ExternalError(f"restore dump picked {restored['dump']}, not the drill's dump {lab.dump['dump']}")
        lab.restored_at = self.clock.now()
        lab.restored_port = lab.restored.port
        self.rto["restore_dump_s"] = lab.restored_at - t0

    def measure_rpo(self, lab: _Lab) -> dict:
        with lab.restored.connect(DB_NAME) as conn:
            restored = {row[0] for row in conn.execute("SELECT label FROM idp_dr_drill.markers")}
        newest = max((m.committed_at for m in lab.markers if m.label in restored), default=None)
        last = lab.last_primary_commit
        rpo = max((last - newest).total_seconds(), 0.0) if newest else None
        dumped = parse_iso(lab.dump["manifest"]["started_at"])
        return {
            "definition": "last commit on the primary before the crash minus the newest commit in the restored "
            "dump (a scheduled dump loses up to its interval; this drill dumps mid-workload)",
            "last_primary_commit": iso(last),
            "last_dumped_commit": iso(newest) if newest else None,
            "dump_started_at": iso(dumped) if dumped else None,
            "rpo_s": None if rpo is None else round(rpo, 3),
            "bounded_by": "the time since the newest verified dump",
        }
