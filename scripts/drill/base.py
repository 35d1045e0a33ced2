"""The local drill's phases that both recovery methods share, in order.

    prepare    S3-compatible store (moto_server) with the archive bucket
               PostgreSQL primary archiving WAL with barman-cloud (archive_timeout short)
               Keycloak (official distribution) on it, public hostname fixed -> fixed issuer
               realm, confidential client, users; a baseline of production facts
    workload   marker rows and Keycloak users created while the clock runs;
               the recovery target is taken in a quiet gap in the middle
    disaster   the realm is deleted (logical damage after the target), then the primary
               PostgreSQL and Keycloak are SIGKILLed: the RTO clock starts ("declared")
    recover    the method's own phases (:mod:`scripts.drill.by_wal`, :mod:`scripts.drill.by_dump`),
               then a standby Keycloak on the recovered database with the same hostname, and
               verify against the baseline; the RTO clock stops when verify has passed
    audit      (outside the RTO) markers before the target present and after it absent, Keycloak
               users likewise, the deleted realm back; RPO and RTO per phase against the targets

A method subclasses :class:`DrillBase` and fills its hooks: what happens after the data is loaded,
before the workload, at the target, before the crash, the recovery itself and how its RPO is measured.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from scripts.drill.artefacts import DrillArtefacts
from scripts.drill.audit import DrillAudit
from scripts.drill.data import load_filler
from scripts.drill.names import BUCKET, CLIENT_ID, DB_NAME, DB_USER, PREFIX, REALM, SERVER
from scripts.drill.options import LocalDrillOptions
from scripts.drill.timing import _Clock, _Phase
from scripts.drill.workload import MarkerWorkload
from scripts.errors import ExternalError
from scripts.lab.keycloak import JdbcDatabase, KeycloakServer, ensure_build, start_keycloak
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.osuser import pg_os_user
from scripts.pg.tools import ensure_pgtools
from scripts.processes import Supervisor
from scripts.progress import say
from scripts.report import Report
from scripts.timeutil import format_duration, iso, utcnow
from scripts.verify import BaselineParams, ClientCredentials, DbParams, Target, VerifyParams, capture_baseline, verify
from scripts.wal import archive, push
from scripts.wal.location import ArchiveLocation

Phase = Callable[["_Lab"], None]


class _Lab(SimpleNamespace):
    """What the drill's phases hand each other (the servers, the archive, the baseline, timings)."""


class DrillBase(DrillAudit, DrillArtefacts):
    #: The method's name in the report and the chart's title.
    method = ""
    title = ""
    #: The RTO's parts, in order, with their labels (``total_s`` is their sum).
    rto_parts: tuple[tuple[str, str], ...] = ()

    def __init__(self, opts: LocalDrillOptions, report: Report, clock: _Clock, workspace: Path):
        self.opts, self.report, self.clock, self.workspace = opts, report, clock, workspace
        self.supervisor: Supervisor | None = None
        self.log_paths: list[tuple[str, Path]] = []
        self.rto: dict[str, float] = {}
        self.target: datetime | None = None
        self.users_written: list[tuple[str, datetime]] = []
        self.realm_deleted = False

    @property
    def chart_clock(self) -> _Clock:
        """The timeline's phases (:class:`DrillArtefacts` draws them)."""
        return self.clock

    def say(self, message: str) -> None:
        say(f"[drill] {message}", enabled=self.opts.progress)

    def phase(self, name: str, group: str) -> _Phase:
        return _Phase(self.report, self.clock, name, group)

    def run(self) -> None:
        """The drill as its phases, in order (each records itself as a timed phase)."""
        lab = _Lab()
        self.report.result["method"] = self.method
        for phase in (
            self._prepare_secrets,
            self._prepare_store,
            self._prepare_primary,
            self._prepare_keycloak_build,
            self._prepare_keycloak,
            self._load_data,
            *self.after_load(),
            self._take_baseline,
            *self.before_workload(),
            self._run_workload,
            self._disaster,
            *self.recover(),
            self._start_standby,
            self._verify,
            self._audit,
        ):
            phase(lab)

    # ------------------------------------------------------------------ the method's hooks
    def after_load(self) -> tuple[Phase, ...]:
        return ()

    def before_workload(self) -> tuple[Phase, ...]:
        return ()

    def at_target(self, lab: _Lab) -> None:
        """Runs inside the workload's quiet gap, right after the target time is taken."""

    def before_crash(self, lab: _Lab) -> None:
        """Runs in the disaster, after the damage and before the SIGKILL."""

    def recover(self) -> tuple[Phase, ...]:
        """The recovery's phases: they leave the recovered server's port in ``lab.restored_port``."""
        raise NotImplementedError

    def measure_rpo(self, lab: _Lab) -> dict:
        """The RPO and its evidence: ``rpo_s``, ``definition`` and what it was measured from."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared phases
    def _prepare_secrets(self, lab: _Lab) -> None:
        """Secrets never printed; the emulator's credentials for our own boto3 calls."""
        report = self.report
        lab.db_password = secrets.token_urlsafe(18)
        report.register_secret(lab.db_password)
        for key in ("AWS_SECRET_ACCESS_KEY",):
            report.register_secret(LAB_AWS_ENV[key])
        # Our own boto3 calls (catalog listing) reach the emulator with the lab credentials.
        for key, value in LAB_AWS_ENV.items():
            os.environ.setdefault(key, value)
        lab.env = dict(LAB_AWS_ENV)

    def _prepare_store(self, lab: _Lab) -> None:
        """An S3-compatible store and the archive bucket."""
        with self.phase("prepare: S3 store", "setup"):
            lab.s3 = S3Server.start(self.supervisor, self.workspace)
            lab.s3.create_bucket(BUCKET)
            lab.location = ArchiveLocation(BUCKET, PREFIX, SERVER, lab.s3.endpoint_url)
            self.say(f"S3-compatible store (moto_server) on {lab.s3.endpoint_url}, archive s3://{BUCKET}/{PREFIX}")

    def _prepare_primary(self, lab: _Lab) -> None:
        """The primary PostgreSQL, archiving WAL with barman-cloud."""
        opts = self.opts
        with self.phase("prepare: primary PostgreSQL", "setup"):
            lab.user = pg_os_user()
            lab.tools = ensure_pgtools(lab.user, log=self.say)
            archive.check_wal_archive(lab.tools, lab.user, lab.location, env=lab.env)
            # The archive-ahead script: a write burst's backlog ships in parallel batches (RPO).
            archiver = push.ParallelArchiver(self.workspace / push.SCRIPT_NAME, self.workspace / "archive-spool")
            lab.primary = PgCluster.create(
                self.workspace,
                "primary",
                supervisor=self.supervisor,
                settings={
                    "wal_level": "replica",
                    "archive_mode": "on",
                    "archive_timeout": opts.archive_timeout_s,
                    "archive_command": push.install(archiver, lab.tools, lab.location, lab.user),
                    "track_commit_timestamp": "on",
                },
            )
            self.log_paths.append(("primary-postgres.log", lab.primary.log_path))
            lab.primary.start(env=lab.env)
            lab.primary.create_role_and_db(DB_USER, lab.db_password, DB_NAME)
            self.say(
                f"PostgreSQL primary on 127.0.0.1:{lab.primary.port} (as OS user {lab.user.name}), archiving "
                f"WAL with barman-cloud ({archiver.parallel} segments at a time), "
                f"archive_timeout {opts.archive_timeout_s} s"
            )

    def _prepare_keycloak_build(self, lab: _Lab) -> None:
        """The Keycloak build (cached)."""
        with self.phase("prepare: Keycloak build", "setup"):
            lab.build = ensure_build(log=self.say)

    def _prepare_keycloak(self, lab: _Lab) -> None:
        """The primary Keycloak: a realm, a confidential client, seed users."""
        opts = self.opts
        report = self.report
        with self.phase("prepare: primary Keycloak", "setup"):
            lab.keycloak = self._keycloak(lab, "primary", lab.primary.port)
            self.log_paths.append(("primary-keycloak.log", lab.keycloak.log_path))
            report.register_secret(lab.keycloak.admin_password)
            lab.admin = lab.keycloak.admin()
            lab.admin.create_realm(REALM)
            lab.client_secret = lab.admin.create_confidential_client(
                REALM, CLIENT_ID, service_account_roles=["manage-users"]
            )
            report.register_secret(lab.client_secret)
            for index in range(opts.seed_users):
                lab.admin.create_user(REALM, f"seed-user-{index}", password=secrets.token_urlsafe(12))
            lab.client = ClientCredentials(CLIENT_ID, lab.client_secret)
            lab.issuer = lab.keycloak.issuer(REALM)
            report.result["issuer"] = lab.issuer

    def _load_data(self, lab: _Lab) -> None:
        """Filler data (--data-mb)."""
        opts = self.opts
        if opts.data_mb:
            with self.phase("prepare: load data", "setup"):
                load_filler(lab.primary, opts.data_mb)
                self.say(f"loaded {opts.data_mb} MiB of filler data")

    def _take_baseline(self, lab: _Lab) -> None:
        """A baseline of production facts to verify against."""
        report = self.report
        with self.phase("prepare: baseline", "setup"):
            lab.primary_dsn = lab.primary.tcp_dsn(DB_NAME, DB_USER, lab.db_password)
            lab.baseline = capture_baseline(
                BaselineParams(
                    Target(
                        "keycloak",
                        lab.keycloak.base_url,
                        realm=REALM,
                        mgmt_url=lab.keycloak.mgmt_url,
                        db=DbParams(lab.primary_dsn),
                    ),
                    lab.client,
                )
            )
            lab.baseline.save(self.workspace / "baseline.json")
            report.result["baseline"] = {
                "issuer": lab.baseline.issuer,
                "signing_kids": lab.baseline.signing_kids,
                "counts": lab.baseline.counts,
                "schema": lab.baseline.schema,
            }

    def _run_workload(self, lab: _Lab) -> None:
        """Markers and users written while the target is marked."""
        opts = self.opts
        report = self.report
        with self.phase("workload", "workload"):
            lab.workload = MarkerWorkload(
                lambda: psycopg.connect(lab.primary_dsn, autocommit=True),
                on_tick=lambda tick: self._maybe_create_user(lab.admin, tick),
            )
            lab.workload.prepare()
            lab.workload.start()
            time.sleep(opts.workload_s)
            self.target = lab.workload.mark_target(during=lambda: self.at_target(lab))
            self.clock.mark("target")
            time.sleep(0.5)  # lab.markers flow again: this segment holds commits made after the target
            lab.after_target_segment = lab.primary.execute("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
            time.sleep(max(opts.workload_s - 0.5, 0))
            report.result["target"] = iso(self.target)
            self.say(f"recovery target {iso(self.target)} (quiet gaps of {lab.workload.quiet_gap:.0f} s around it)")

    def _disaster(self, lab: _Lab) -> None:
        """Logical damage after the target, then SIGKILL: the disaster is declared."""
        report = self.report
        with self.phase("disaster", "disaster"):
            self.realm_deleted = True
            lab.admin.request("DELETE", f"/realms/{REALM}")  # logical damage after the target
            self.say(f"realm {REALM!r} deleted on the primary")
            self.before_crash(lab)
            # Side work that failed (a user not created, the marker writer stopped early) changes
            # what the audit can prove: say so, and refuse to measure an RPO from no writes at all.
            report.notes.extend(f"workload: {e}" for e in lab.workload.errors)
            lab.markers = lab.workload.snapshot()
            if not lab.markers:
                raise ExternalError(
                    "the workload committed no marker rows, so no RPO can be measured"
                    + (f": {'; '.join(lab.workload.errors)}" if lab.workload.errors else ""),
                    hint="see the primary PostgreSQL log in the report directory",
                )
            lab.last_primary_commit = lab.markers[-1].committed_at
            lab.primary.crash()
            lab.keycloak.kill()
            lab.workload.stop()
            report.result["last_primary_commit"] = iso(lab.last_primary_commit)
            self.say("primary PostgreSQL and Keycloak killed (SIGKILL)")
        lab.declared = self.clock.mark("declared")

    def _start_standby(self, lab: _Lab) -> None:
        """The standby Keycloak on the restored database."""
        with self.phase("recover: standby Keycloak ready", "recovery"):
            lab.standby = self._keycloak(lab, "standby", lab.restored_port, admin_password=lab.keycloak.admin_password)
            self.log_paths.append(("standby-keycloak.log", lab.standby.log_path))
        lab.ready_at = self.clock.now()
        self.rto["keycloak_ready_s"] = lab.ready_at - lab.restored_at

    def _verify(self, lab: _Lab) -> None:
        """verify against the baseline: the RTO ends here."""
        report = self.report
        with self.phase("recover: verify", "verify"):
            lab.restored_dsn = f"postgresql://{DB_USER}:{lab.db_password}@127.0.0.1:{lab.restored_port}/{DB_NAME}"
            verify(
                VerifyParams(
                    Target(
                        "keycloak",
                        lab.standby.base_url,
                        realm=REALM,
                        mgmt_url=lab.standby.mgmt_url,
                        db=DbParams(lab.restored_dsn),
                    ),
                    expected_issuer=lab.issuer,
                    client=lab.client,
                ),
                report,
                lab.baseline,
            )
        lab.verified_at = self.clock.now()
        self.rto["verify_s"] = lab.verified_at - lab.ready_at
        self.rto["total_s"] = lab.verified_at - lab.declared

    def _audit(self, lab: _Lab) -> None:
        """The drill audits the restore (outside the RTO) and states the objectives."""
        opts = self.opts
        report = self.report
        # The RTO ends where an operator's recovery ends: `verify` passed. What follows is the
        # drill auditing the restore (markers, users, the deleted realm), not a recovery step.
        with self.phase("audit: restored data", "audit"):
            self._check_markers(lab.workload, lab.restored_dsn)
            self._check_users(lab.restored_dsn)
            self._check_realm_back(lab.standby)
        self._objectives(self.measure_rpo(lab))
        report.result["rto_parts"] = self.rto_sum()
        if opts.store_probe is not None:  # after every RTO figure is taken: it must not inflate them
            lab.standby.stop()  # a Keycloak minutes old still compiles and checks indexes: not the probe's CPUs
            report.result["store_probe"] = opts.store_probe(lab.s3, lab.location)
        self.say(f"recovered and verified {format_duration(self.rto['total_s'])} after the disaster was declared")
        lab.rpo = report.result["rpo"]["rpo_s"]
        report.notes += [
            f"RPO {lab.rpo} s (target {opts.rpo_target_s:g} s): {report.result['rpo']['definition']}",
            f"RTO {self.rto['total_s']:.1f} s (target {opts.rto_target_s:g} s) = " + self.rto_sum(),
        ]

    def rto_sum(self) -> str:
        """The RTO's parts in words, e.g. "restore base 1.2 s + replay WAL 3.4 s + …"."""
        return " + ".join(f"{label} {self.rto.get(key, 0.0):.1f} s" for key, label in self.rto_parts)

    def _maybe_create_user(self, admin, tick: int) -> None:
        """Every tenth marker, a Keycloak user: IdP-level data written around the target.

        Stops once the realm is deleted (the disaster); markers keep being written until the crash.
        """
        if tick % 10 == 0 and not self.realm_deleted:
            name = f"workload-user-{tick}"
            admin.create_user(REALM, name, password=secrets.token_urlsafe(12))
            self.users_written.append((name, utcnow()))

    def _keycloak(self, lab: _Lab, name: str, db_port: int, **extra: Any) -> KeycloakServer:
        """A Keycloak of the drill on the database at ``db_port``, with the drill's public hostname."""
        opts = self.opts
        return start_keycloak(
            self.supervisor,
            self.workspace,
            name=name,
            build=lab.build,
            hostname=opts.hostname,
            db=JdbcDatabase.local(db_port, DB_NAME, DB_USER, lab.db_password),
            timeout=opts.keycloak_timeout_s,
            progress=opts.progress,
            log=self.say,
            **extra,
        )

    def _absorb(self, sub: Report, prefix: str) -> None:
        for check in sub.checks:
            self.report.check(f"{prefix}.{check.name}", check.ok, check.message, **check.evidence)
        failed = [s for s in sub.steps if s.status == "failed"]
        if failed:
            raise ExternalError(f"restore step {failed[0].name!r} failed: {failed[0].error}")
