"""``restore wal``: PITR from a barman-cloud WAL archive (the layout CloudNativePG writes).

* :mod:`scripts.restore.wal.prefetch` – parallel WAL download into a spool + the ``restore_command`` that reads it
* :mod:`scripts.restore.wal.recovery` – targets and the recovery settings written into the restored PGDATA
* :mod:`scripts.restore.wal.cli`      – the library function and the CLI
"""
