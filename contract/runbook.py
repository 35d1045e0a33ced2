"""Where the runbook keeps its own state in the DR bucket: both sides need it (the program grants the reads)."""

from __future__ import annotations

from typing import Final

#: Incidents' journals and locks (failover, recover, reprotect, failback, restore dump) live under it.
RUNBOOK_PREFIX: Final[str] = "idp-dr/runbook/"
#: The topology record (where the primary is now, what protects it): written by recover, failover, reprotect and
#: failback; read by drill --aws and check dr-paths too.
TOPOLOGY_RECORD_PREFIX: Final[str] = RUNBOOK_PREFIX + "topology/"
