"""The RDS side of the runbook: point-in-time restore, failover, failback and a local sandbox.

* :mod:`scripts.rds.aws`      – boto3 sessions and clients, throttling backoff, AccessDenied → the
  missing IAM action, a guard that refuses mutating calls in ``--dry-run``
* :mod:`scripts.rds.polling`  – an injectable clock and the bounded poll loop every wait uses
* :mod:`scripts.rds.restore`  – ``restore rds`` (also a library function, used by ``failover``)
* :mod:`scripts.rds.dns`      – Route 53 health-check status, sticky failover and failback
* :mod:`scripts.rds.k8s`      – a small Kubernetes adapter: ``kubectl`` for real, fakes for tests/sandbox
* :mod:`scripts.rds.probe`    – HTTP readiness and discovery-issuer probes (the default validator)
* :mod:`scripts.rds.failover` – ``failover``: the six steps of the Keycloak guide, resumable
* :mod:`scripts.rds.failback` – ``failback``: undo sticky failover after pre-checks
* :mod:`scripts.rds.sandbox`  – ``sandbox``: ``moto_server`` seeded with a production-like topology
* :mod:`scripts.rds.topology` – the seeded topology (sandbox and tests) and its stack outputs
* :mod:`scripts.rds.sandbox_sites` – stand-in IdP sites over HTTP (sandbox and tests)
* :mod:`scripts.rds.motofix`  – two documented moto deviations from AWS, fixed for sandbox/tests only
* :mod:`scripts.rds.moto_server` – ``moto_server`` with those fixes

The runbook commands are documented, with real output, in docs/runbook-aws.md.
"""
