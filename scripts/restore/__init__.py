"""``restore <source>``: point-in-time restores, one package per source.

* :mod:`scripts.restore.rds` – RDS PITR (from the source instance or the replicated backups)
* :mod:`scripts.restore.wal` – self-managed PostgreSQL from a barman-cloud archive
"""
