"""Facts about logical dumps both sides use: where they live, and the metric that proves they happen."""

from __future__ import annotations

from typing import Final

#: Dumps live under ``dumps/<tier>/`` at the archive bucket's root (the lifecycle rules' prefixes).
DUMP_PREFIX: Final[str] = "dumps"
#: ``backup dump --metric-namespace`` publishes ``VerifiedDumps`` = 1 (dimension ``Stack``) after a
#: verified dump; the program's freshness alarm watches it.
METRIC_NAMESPACE: Final[str] = "IdpDr/Backups"
METRIC_NAME: Final[str] = "VerifiedDumps"

#: Where ``baseline --publish`` (by hand, or the weekly CronJob) keeps baselines in the DR bucket, and where
#: ``--baseline latest`` finds the newest.
BASELINE_PREFIX = "idp-dr/baselines/"

#: ``check replicated-backups --metric-namespace`` publishes the replicated automated backups' age (seconds
#: since their newest restorable point, dimension ``Stack``); the program's alarm fires above the RPO target.
DR_PATH_METRIC_NAMESPACE: Final[str] = "IdpDr/DrPaths"
REPLICATED_BACKUP_AGE_METRIC: Final[str] = "ReplicatedBackupAgeSeconds"
#: ``check dr-paths`` publishes how many of the DR region's keys are not usable (pending deletion, disabled,
#: unreadable): a backup, a replica or an archive encrypted with such a key cannot be restored.
DR_KEYS_METRIC: Final[str] = "DrKeysNotEnabled"
#: ``check dr-paths --wal-archiver`` (self-managed stacks) publishes whether the primary's WAL archiving fails
#: (1) or works (0), from ``pg_stat_archiver``; 1 also when the view cannot be read.
WAL_ARCHIVER_FAILING_METRIC: Final[str] = "WalArchivingFailing"
#: ``check dr-paths`` (rds stacks) publishes how many protection gaps it found: the DR replica not replicating the
#: serving primary, the serving primary's backups not replicated, a failover left unprotected too long.
DR_PROTECTION_GAPS_METRIC: Final[str] = "DrProtectionGaps"
