"""``restore wal``: PITR from a barman-cloud WAL archive (the layout CloudNativePG writes).

Request -> validate -> phases, one module each:

* :mod:`scripts.restore.wal.request`  – :class:`RestoreRequest` in, :class:`RestoreResult` out
* :mod:`scripts.restore.wal.validate` – phase 1, read-only: PGDATA, the archive, the window, the backup
* :mod:`scripts.restore.wal.phases`   – phases 2-5: base backup, recovery settings, replay, finalize
* :mod:`scripts.restore.wal.restore`  – :func:`restore_wal`, the library entry point: the phases in order
* :mod:`scripts.restore.wal.server`   – the restored server (pg_ctl as its OS user, waiting for promotion)
* :mod:`scripts.restore.wal.prefetch` – parallel WAL download into a spool + the ``restore_command`` that reads it
* :mod:`scripts.restore.wal.recovery` – targets and the recovery settings written into the restored PGDATA
* :mod:`scripts.restore.wal.cli`      – the command line
"""
