"""Running PostgreSQL's own tools as its OS user: what ``restore wal`` needs at run time and the lab reuses.

* :mod:`scripts.pg.osuser` – who PostgreSQL runs as (it refuses root), directories it can enter
* :mod:`scripts.pg.bindir` – where the server binaries are
* :mod:`scripts.pg.tools`  – a Python + barman-cloud the PostgreSQL OS user can execute
"""
