"""Self-managed PostgreSQL PITR from a barman-cloud WAL archive (the layout CloudNativePG writes).

* :mod:`scripts.wal.location` – ``s3://bucket/prefix`` + server name + endpoint, and an S3 client
* :mod:`scripts.wal.archive`  – the archiving side: archive_command, base backups, pre-flight, archive lag
* :mod:`scripts.wal.catalog`  – backups and archived WAL in the bucket, and the restorable window
* :mod:`scripts.wal.waldump`  – facts read from WAL with ``pg_waldump`` (commit times, xids, restore points)
* :mod:`scripts.wal.prefetch` – parallel WAL download into a spool + the ``restore_command`` that reads it
* :mod:`scripts.wal.recovery` – targets and the recovery settings written into the restored PGDATA
* :mod:`scripts.wal.restore`  – ``python -m scripts restore wal``: the library function and the CLI
"""
