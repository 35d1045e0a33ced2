"""The ``failover`` world shared by the tests that fail over: the DR cluster (fake) seeded like the stack, the DR
site ready only when pods run against a writable DR database, and the command's invocation.

moto reports every Route 53 health check healthy; :func:`primary_down` injects the checkers' observations in
the shape GetHealthCheckStatus returns on AWS.
"""

from __future__ import annotations

import json

import pytest

from contract.secrets import DB_SECRET_KEYS
from scripts.k8s.adapter import FakeKube, secretsmanager_source
from scripts.sandbox.command import dr_site_ready, seed_kube
from tests.scripts.shapes import observations
from tests.scripts.world import fresh_session, invoke

PLACEHOLDER = "pending-failover.invalid"


class InterruptOnce(FakeKube):
    """A cluster where the first ``scale`` is interrupted (Ctrl-C) before it happens."""

    interrupt = True

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt
        super().scale(namespace, deployment, replicas)


def make_kube(world, cls=FakeKube) -> FakeKube:
    kube = cls(secret_source=secretsmanager_source(world.aws(), "eu-central-1"), ready_after=1)
    seed_kube(kube, world.outputs, fresh_session())
    return kube


@pytest.fixture
def standby(world, sites):
    """The DR cluster (fake) and the DR site, ready only when pods run against a writable DR DB."""
    kube = make_kube(world)
    _, dr = sites
    dr.set_ready(lambda: dr_site_ready(kube.state, world.outputs, fresh_session()))
    # The DR endpoint secret holds a placeholder until a failover writes the real endpoint.
    sm = world.client("secretsmanager", "eu-central-1")
    arn = world.outputs["standby"]["drDbEndpointSecretArn"]
    sm.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"host": PLACEHOLDER, "port": 5432, "dbname": "keycloak"})
    )
    kube.state["secrets"]["identity/keycloak-db"][DB_SECRET_KEYS["keycloak"]["host"]] = PLACEHOLDER
    return kube


def primary_down(world) -> None:
    """Route 53 checkers all failing on the primary's checks (moto cannot produce this)."""
    world.faults.add("GetHealthCheckStatus", lambda p: observations(0, 8))


def failover(world, *extra: str) -> list[str]:
    return [
        "failover",
        "--stack-outputs",
        str(world.outputs_path),
        "--probe-scheme",
        "http",
        "--json",
        *extra,
    ]


def run_failover(world, kube, *extra: str, **inject):
    return invoke(failover(world, *extra), aws=world.aws(), kube=kube, clock=world.clock, **inject)


def health_path(world) -> str:
    check = world.client("route53").get_health_check(HealthCheckId=world.outputs["dns"]["primaryHealthCheckId"])
    return check["HealthCheck"]["HealthCheckConfig"]["ResourcePath"]
