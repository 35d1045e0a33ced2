"""What ``restore wal`` is asked to do (:class:`RestoreRequest`) and what it did (:class:`RestoreResult`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scripts.restore.wal.recovery import Target, default_init_sync
from scripts.timeutil import iso
from scripts.wal.base_fetch import DEFAULT_THREADS as BASE_FETCH_THREADS

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
    #: With a latest target, promote at a hole in the archive instead of refusing (the report says
    #: what is lost). Default False: a missing segment is never promoted at silently.
    accept_wal_gap: bool = False
    #: How the base backup is fetched: ``parallel`` (ranged GETs into ``tar -x``, :mod:`scripts.wal.base_fetch`;
    #: barman-cloud-restore for what it does not read) or ``barman`` (barman-cloud-restore, one stream).
    base_fetch: str = "parallel"
    base_fetch_threads: int = BASE_FETCH_THREADS
    #: ``recovery_init_sync_method`` for the restored server's first start (reset after promotion):
    #: ``syncfs`` or ``fsync``; default :func:`~scripts.restore.wal.recovery.default_init_sync`.
    init_sync: str = field(default_factory=default_init_sync)

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
    #: The WAL segment the restored server writes in after promotion (where replay ended).
    ended_in_segment: str | None = None
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
