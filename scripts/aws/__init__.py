"""AWS access for every runbook command: one session/retry helper and one wrapper per API.

* :mod:`scripts.aws.client`  – boto3 sessions and clients, throttling backoff, AccessDenied → the
  missing IAM action, a guard that refuses mutating calls in ``--dry-run``
* :mod:`scripts.aws.rds`     – RDS describe calls with their not-found handling, promotion
* :mod:`scripts.aws.route53` – Route 53 health-check status, sticky failover and failback
"""
