"""What the Pulumi program and the runbook scripts share: one place per fact.

``components/`` and ``scripts/`` both import this package (and it imports neither):

* :mod:`contract.outputs`  – the stack outputs' keys and their model (what ``pulumi up`` exports and
  every runbook command reads)
* :mod:`contract.secrets`  – the Kubernetes Secret keys of each IdP's database connection
* :mod:`contract.restore`  – restore requests built from the stack outputs (``restoreCommand``,
  ``failover --mode restore``, ``restore rds --stack-outputs``)
* :mod:`contract.messages` – the one phrasing of a refused value
* :mod:`contract.jvm`      – the JVM options the standby's Keycloak pods add to Keycloak's own
"""
