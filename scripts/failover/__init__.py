"""Moving traffic between sites: ``failover`` and ``failback`` (docs/runbook-aws.md).

* :mod:`scripts.failover.cmd_failover`   – ``failover``: the steps of the Keycloak guide, resumable
* :mod:`scripts.failover.cmd_failback`   – ``failback``: undo the sticky failover after pre-checks
* :mod:`scripts.failover.probe`          – HTTP readiness and discovery-issuer probes (the default validator)
* :mod:`scripts.failover.validation`     – ``--baseline``: the full ``verify`` as a failover validator
* :mod:`scripts.failover.site_validation` – the validation flags both commands share
"""
