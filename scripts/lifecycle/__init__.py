"""The DR lifecycle's truth between commands: where the primary is and what protects it now.

* :mod:`scripts.lifecycle.record`     – the runbook's record of the topology in the DR bucket, written by the
  commands that change it (recover, failover, failback)
* :mod:`scripts.lifecycle.protection` – what AWS says now: the serving primary, its replicated backups and
  the DR replica's source, by ``DbiResourceId``; stale stack outputs detected and named
"""
