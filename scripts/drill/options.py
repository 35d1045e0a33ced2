"""The local drill's options: what it runs, how long, and the objectives it is measured against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The recovery methods a drill can exercise: ``wal`` (base backup + WAL replay to a point in time) and
#: ``dump`` (the newest verified logical dump, restored with ``restore dump``).
METHODS = ("wal", "dump")


@dataclass(frozen=True)
class LocalDrillOptions:
    #: How the database is recovered: ``wal`` (point in time) or ``dump`` (the newest logical dump).
    method: str = "wal"
    #: Public hostname of both Keycloaks: the issuer is <hostname>/realms/drill.
    hostname: str = "https://sso.drill.idp-dr.test"
    #: PostgreSQL archive_timeout (s): bounds the achievable RPO.
    archive_timeout_s: int = 10
    #: Seconds of workload before and after the target.
    workload_s: float = 6.0
    #: Users in the realm before the drill starts (the baseline's count).
    seed_users: int = 5
    #: Declared objectives the drill is measured against.
    rpo_target_s: float = 30.0
    rto_target_s: float = 300.0
    report_dir: Path = Path("reports")
    keep: bool = False
    keycloak_timeout_s: float = 600.0
    restore_timeout_s: float = 3600.0
    progress: bool = True
    #: Extra data loaded before the base backup (MiB), and WAL generated after it (MiB), to drill at
    #: realistic sizes (the benchmark uses 100 MiB and 1 GiB). 0 = Keycloak's own data only.
    #: ``wal_mb`` applies to the wal method only.
    data_mb: int = 0
    wal_mb: int = 0
    #: Start the restore's WAL prefetch while the base backup downloads (``restore wal``'s default), or
    #: only once it is in (False: the benchmark measures the base fetch with nothing beside it).
    wal_prefetch_during_base: bool = True
    #: Called with (S3Server, ArchiveLocation) after the restore, before anything stops; its dict
    #: lands in result["store_probe"] (the benchmark measures raw download speed with it).
    store_probe: Callable[[Any, Any], dict] | None = None
