"""Moving traffic between sites: ``failover`` and ``failback`` (docs/runbook-aws.md).

* :mod:`scripts.failover.failover`        – :class:`Failover`: the runbook's steps in order, resumable
* :mod:`scripts.failover.options`         – what the command line asked for
* :mod:`scripts.failover.incident`        – the incident: the journal (``scripts.runstate``) and its typed facts
* :mod:`scripts.failover.database`        – step 3: promote the DR replica or restore the replicated backups
* :mod:`scripts.failover.standby`         – steps 4-5: point the standby at the new database, scale it up
* :mod:`scripts.failover.traffic`         – steps 7-8: the sticky Route 53 cut, re-protection
* :mod:`scripts.failover.probe`           – HTTP readiness and discovery-issuer probes (the default validator)
* :mod:`scripts.failover.validation`      – ``--baseline``: the full ``verify`` as a failover validator
* :mod:`scripts.failover.site_validation` – the validation flags both commands share
* :mod:`scripts.failover.cmd_failover`, :mod:`scripts.failover.cmd_failback` – the command lines
"""
