"""``check``: scheduled checks of the DR paths that no CloudWatch metric covers by itself.

* :mod:`scripts.check.replicated_backups` – the replicated automated backups' age against the RPO target
"""
