"""``recover``: a point-in-time restore **into production**, after logical damage in a healthy region.

The Keycloak guide's tested restore procedure (steps 1-5) as one resumable command:

* :mod:`scripts.recover.options`  – what the operator asks for, and the names the run gives things
* :mod:`scripts.recover.preflight` – read-only checks before anything changes
* :mod:`scripts.recover.cutover`  – swap the restored instance in under the original name, or
  repoint the site at it
* :mod:`scripts.recover.follow`   – what follows the database that now serves (backup replication,
  the DR replica, alarms, Pulumi's state)
* :mod:`scripts.recover.recover`  – the steps in order, journalled, with the timeline and post-mortem
* :mod:`scripts.recover.cli`      – the command line
"""
