"""``drill --local``: a complete disaster and recovery on one machine, with real parts.

Both methods run the same disaster (:mod:`scripts.drill.base`): a Keycloak on a PostgreSQL primary
that archives its WAL to an S3-compatible store, a workload of marker rows and users, a realm
deleted, then the primary SIGKILLed. They recover differently:

* ``--method wal`` (:mod:`scripts.drill.by_wal`): a point-in-time restore from the base backup and
  the archived WAL, to a target in the middle of the workload;
* ``--method dump`` (:mod:`scripts.drill.by_dump`): the newest verified logical dump, taken during
  the workload, restored onto a new server with ``restore dump``.

Every phase is a timed report step, drawn in ``timeline.png``. Everything started is stopped
(Supervisor), also on failure, Ctrl-C and SIGTERM; the workspace is removed unless ``--keep``.
Logs are copied into the report directory first.
"""

from __future__ import annotations

from typing import Any

from scripts.drill.base import DrillBase
from scripts.drill.by_dump import DumpDrill
from scripts.drill.by_wal import WalDrill
from scripts.drill.options import LocalDrillOptions
from scripts.drill.timing import _Clock
from scripts.errors import DrError, interrupted
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor
from scripts.report import Report
from scripts.timeutil import utcnow

#: One drill per recovery method (the same keys as :data:`~scripts.drill.options.METHODS`).
DRILLS: dict[str, type[DrillBase]] = {"wal": WalDrill, "dump": DumpDrill}


def run_local_drill(opts: LocalDrillOptions, report: Report) -> dict[str, Any]:
    """Run the drill, filling ``report``; returns the paths of the written artefacts."""
    clock = _Clock()
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    out_dir = (opts.report_dir / f"drill-{stamp}").absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    workspace = make_workspace(prefix="drill-")
    report.result["workspace"] = str(workspace)
    report.result["report_dir"] = str(out_dir)
    state = DRILLS[opts.method](opts, report, clock, workspace)
    try:
        with Supervisor() as supervisor:
            state.supervisor = supervisor
            try:
                state.run()
            finally:
                state.collect_logs(out_dir)
    except DrError as exc:
        report.error = exc
        raise
    except KeyboardInterrupt:
        report.error = interrupted()
        raise
    finally:
        if not opts.keep:
            remove_tree(workspace)
        else:
            report.notes.append(f"workspace kept: {workspace}")
        # Written on every path: a failed or interrupted drill is exactly what a post-mortem needs.
        files = state.write_artefacts(out_dir)
    return files


__all__ = ["DrError", "LocalDrillOptions", "run_local_drill"]
