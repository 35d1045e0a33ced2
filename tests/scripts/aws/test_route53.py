"""Small pieces: Route 53 health semantics, the kubectl adapter, AWS error mapping, polling."""

from __future__ import annotations

import pytest

from scripts.aws import route53 as dns
from tests.scripts.shapes import observations


# -- Route 53 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("healthy", "total", "expected"),
    [
        (0, 8, False),
        (1, 8, False),  # 12.5 %: not more than 18 %
        (2, 8, True),  # 25 %
        (8, 8, True),
    ],
)
def test_route53_counts_an_endpoint_healthy_above_18_percent_of_checkers(world, healthy, total, expected):
    """moto always reports one healthy checker: the observations are injected (AWS-shaped)."""
    world.faults.add("GetHealthCheckStatus", lambda p: observations(healthy, total))
    status = dns.observed_status(world.aws(), world.outputs["dns"]["primaryHealthCheckId"])
    assert status.healthy is expected
    assert status.detail.startswith(f"{healthy}/{total} checkers healthy")


def test_calculated_status_is_derived_from_its_children(world):
    ready_id = world.outputs["dns"]["primaryHealthCheckId"]
    world.faults.add(
        "GetHealthCheckStatus",
        lambda p: observations(0, 8) if p["HealthCheckId"] == ready_id else observations(8, 8),
    )
    status = dns.observed_status(world.aws(), world.outputs["dns"]["primaryRecordHealthCheckId"])
    assert status.healthy is False
    assert status.detail == "calculated: 1/2 children healthy, threshold 2"
    assert [c.healthy for c in status.children] == [False, True]


def test_the_seeded_topology_satisfies_the_sticky_failover_rules(world):
    d = world.outputs["dns"]
    assert dns.sticky_problems(world.aws(), d["primaryHealthCheckId"], d["primaryRecordHealthCheckId"]) == []
    records = dns.failover_records(world.aws(), d["zoneId"], d["recordName"])
    assert records["PRIMARY"]["HealthCheckId"] == d["primaryRecordHealthCheckId"]
    assert "HealthCheckId" not in records["SECONDARY"]


def test_an_inverted_readiness_check_is_a_sticky_problem(world):
    d = world.outputs["dns"]
    world.client("route53").update_health_check(HealthCheckId=d["primaryHealthCheckId"], Inverted=True)
    assert dns.sticky_problems(world.aws(), d["primaryHealthCheckId"], d["primaryRecordHealthCheckId"]) == [
        f"{d['primaryHealthCheckId']} is Inverted: a failing path would read as healthy"
    ]


def test_set_path_is_idempotent(world):
    d = world.outputs["dns"]
    aws = world.aws()
    assert dns.set_path(aws, d["primaryHealthCheckId"], "/x") is True
    assert dns.set_path(aws, d["primaryHealthCheckId"], "/x") is False
    assert world.recorder.operations.count("UpdateHealthCheck") == 1
