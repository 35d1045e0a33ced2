"""The ``restore wal`` library entry point: point-in-time restore from a barman-cloud WAL archive.

The library entry point is :func:`restore_wal` (a :class:`RestoreRequest` in, a
:class:`RestoreResult` out, every phase recorded as a step in the passed
:class:`~scripts.report.Report`). The CLI (:mod:`scripts.restore.wal.cli`) only builds the
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

import os
import shutil
import time
from pathlib import Path

from scripts.pg.tools import PgTools
from scripts.processes import Supervisor
from scripts.progress import Progress
from scripts.report import Report
from scripts.restore.wal.phases import RestoreRun
from scripts.restore.wal.request import RestoreRequest, RestoreResult
from scripts.restore.wal.server import RestoredServer
from scripts.restore.wal.validate import Validated, check_pgdata_path, validate
from scripts.timeutil import iso


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
    pgdata = check_pgdata_path(Path(req.pgdata).absolute())
    _register_secrets(req, report)
    spool = Path(req.spool_dir).absolute() if req.spool_dir else pgdata.with_name(pgdata.name + ".wal-spool")

    found = validate(req, report, pgdata=pgdata, spool=spool, progress=progress, tools=tools)
    phases = {"validate": found.seconds}
    result = _planned_result(req, report, pgdata, found)
    server = RestoredServer(
        pgdata, req.port, found.socket_dir, found.user, found.pg_bindir, pgdata / "log" / "idp-dr-restore.log"
    )
    if req.dry_run:
        return _dry_run(req, report, result, found, spool, phases)

    run = RestoreRun(req, report, found, server, spool, result, phases, progress, supervisor)
    try:
        run.prefetch_during_base()
        run.fetch_base_backup()
        already_promoted = found.resumed and not (pgdata / "recovery.signal").exists()
        run.configure_recovery()
        run.replay(already_promoted)
        run.stop_prefetch()
        run.finalize()
    except BaseException as exc:
        run.abandon(exc)
        raise
    _leave_or_stop(req, report, result, server)
    phases["total"] = time.monotonic() - t_total
    result.phases_s = phases
    report.result.update(result.to_dict())
    if result.running:
        report.notes.append(
            f"the restored server keeps running on port {req.port} "
            f"(socket {found.socket_dir}); stop it with: {result.stop_command}"
        )
    return result


def _register_secrets(req: RestoreRequest, report: Report) -> None:
    for secret_var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        report.register_secret(os.environ.get(secret_var))
        report.register_secret(req.env.get(secret_var))


def _planned_result(req: RestoreRequest, report: Report, pgdata: Path, found: Validated) -> RestoreResult:
    """The result as validation planned it; the report shows the plan before any work starts."""
    assert found.backup is not None and found.plan is not None
    new_name = found.new_name
    result = RestoreResult(
        pgdata=pgdata,
        backup={**found.backup.summary(), "end_time": iso(found.backup.end_time)},
        target=req.target.describe(),
        window=found.window.to_dict() if found.window else None,
        new_server_name=new_name if req.archive else None,
        archive_mode=f"on (as server {new_name!r})" if req.archive else "off",
        port=req.port,
        socket_dir=str(found.socket_dir),
        dry_run=req.dry_run,
        resumed=found.resumed,
    )
    report.result.update(
        {
            "archive": found.location.display(),
            "backup": result.backup,
            "target": result.target,
            "window": result.window,
            "wal_segments_planned": len(found.plan.segments),
            "wal_bytes_planned": found.plan.bytes,
            **found.extra,
        }
    )
    return result


def _dry_run(
    req: RestoreRequest,
    report: Report,
    result: RestoreResult,
    found: Validated,
    spool: Path,
    phases: dict[str, float],
) -> RestoreResult:
    if found.scan_used_spool:
        shutil.rmtree(spool, ignore_errors=True)
    report.notes.append("dry run: nothing was written")
    result.phases_s = phases
    plan_keys = ("pgdata", "new_server_name", "archive_mode", "listen", "phases_s", "dry_run")
    report.result.update({k: v for k, v in result.to_dict().items() if k in plan_keys})
    report.result["restore_command"] = (
        "prefetch spool + barman-cloud-wal-restore fallback" if req.prefetch else "barman-cloud-wal-restore"
    )
    return result


def _leave_or_stop(req: RestoreRequest, report: Report, result: RestoreResult, server: RestoredServer) -> None:
    if req.leave_running:
        result.running = server.running()
        result.stop_command = server.stop_command()
    else:
        with report.step("stop restored server"):
            server.stop("fast")
        result.running = False
