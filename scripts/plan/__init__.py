"""``plan``: the topology a stack would create, rendered offline, its DR posture and policy checks.

* :mod:`scripts.plan.command`   – the command: render the program under mocks, group and print it
* :mod:`scripts.plan.summaries` – one line of DR-relevant settings per resource type
* :mod:`scripts.plan.posture`   – what a failover would take, and the DR policy checks
"""
