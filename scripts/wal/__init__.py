"""A barman-cloud WAL archive (the layout CloudNativePG writes): what is in it and how it is written.

* :mod:`scripts.wal.location` – ``s3://bucket/prefix`` + server name + endpoint, and an S3 client
* :mod:`scripts.wal.archive`  – the archiving side: archive_command, base backups, pre-flight, archive lag
* :mod:`scripts.wal.catalog`  – backups and archived WAL in the bucket, and the restorable window
* :mod:`scripts.wal.waldump`  – facts read from WAL with ``pg_waldump`` (commit times, xids, restore points)

Restoring from it is :mod:`scripts.restore.wal`.
"""
