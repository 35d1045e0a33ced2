"""``restore rds``: RDS point-in-time restore (also a library function, used by ``failover``).

Request -> plan -> execute, one module each:

* :mod:`scripts.restore.rds.request`  – :class:`RestoreSpec`, the plan and outcome, the tags and naming rules
* :mod:`scripts.restore.rds.checks`   – read-only AWS checks: window, DR resources, IAM simulation, drill group
* :mod:`scripts.restore.rds.settings` – every setting AWS would default, with its origin; the restore request
* :mod:`scripts.restore.rds.plan`     – :func:`plan_restore`: everything before the first mutating call
* :mod:`scripts.restore.rds.execute`  – :func:`restore_rds`: the call, the wait, the post-checks
* :mod:`scripts.restore.rds.cli`      – the command line
"""
