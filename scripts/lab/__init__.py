"""Real parts on one machine, for the local drill, the integration tests and benches.

* :mod:`scripts.lab.osuser`    – who PostgreSQL runs as (it refuses root), workspaces it can enter
* :mod:`scripts.lab.processes` – a supervisor that stops everything it started, even on Ctrl-C
* :mod:`scripts.lab.postgres`  – a throwaway PostgreSQL 15 cluster
* :mod:`scripts.lab.s3`        – an S3-compatible store (``moto_server``) on loopback
* :mod:`scripts.lab.pgtools`   – a Python + barman-cloud the PostgreSQL OS user can execute
"""
