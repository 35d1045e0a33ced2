"""What the Pulumi program and the runbook scripts share: one place per fact.

``components/`` and ``scripts/`` both import this package (and it imports neither):

* :mod:`contract.outputs` – the stack outputs' keys and their model (what ``pulumi up`` exports and
  every runbook command reads)
"""
