"""Declaring an incident is an act: nothing is declared, written or timed without ``--yes`` (or the typed
confirmation); ``--declared-at`` moves the RTO's start to when the incident began; a dry run shows what the run
would read and decide. moto, the fake DR cluster and stand-in IdP sites, as in ``test_failover``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scripts.timeutil import iso
from tests.scripts.failover_world import primary_down, run_failover


def test_without_yes_no_incident_is_declared_and_nothing_is_written(world, standby, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    primary_down(world)
    assert run_failover(world, standby).code == 3
    assert world.recorder.mutating() == []
    # No state.json: no incident, no RTO clock. Only the run's lock was taken and given back.
    assert world.recorder.runbook_writes() == [
        "PutObject idp-dr/runbook/sso.example.com/lock.json",
        "DeleteObject idp-dr/runbook/sso.example.com/lock.json",
    ]


def test_the_rto_starts_at_the_first_change_when_no_time_is_given(world, standby):
    primary_down(world)
    started = world.clock.now()
    world.clock.advance(600)  # ten minutes spent reading the dry run and deciding
    result = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["result"]["declared_at"] == iso(started + timedelta(seconds=600))
    assert doc["result"]["rto_s"] < 600


def test_declared_at_moves_the_start_of_the_rto_and_is_recorded(world, standby):
    primary_down(world)
    began = world.clock.now() - timedelta(minutes=20)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--declared-at", iso(began))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["result"]["declared_at"] == iso(began)
    assert doc["result"]["rto_s"] >= 20 * 60
    assert world.incident()["declared_by"] == "--declared-at"


@pytest.mark.parametrize(
    ("offset", "hint"),
    [
        (timedelta(minutes=5), "an incident that has not begun cannot be declared"),
        (timedelta(days=-36), "older than any PITR window RDS keeps (35 days)"),
    ],
)
def test_a_declared_at_in_the_future_or_before_any_pitr_window_is_refused_before_any_call(world, standby, offset, hint):
    now = world.clock.now()
    text = iso(now + offset)
    result = run_failover(world, standby, "--yes", "--declared-at", text)
    assert result.code == 2
    assert result.error_line == (
        f"invalid --declared-at {text!r}: a time with a zone between {iso(now - timedelta(days=35))} and now "
        f"({iso(now)})"
    )
    assert result.hint_line == hint
    assert world.recorder.operations == []


def test_a_declared_at_beyond_the_calendar_is_refused_not_a_traceback(world, standby):
    result = run_failover(world, standby, "--yes", "--declared-at", "0001-01-01T00:00:00+01:00")
    assert result.code == 2
    assert result.error_line == (
        "invalid --declared-at '0001-01-01T00:00:00+01:00': a time between the years 1 and 9999 in UTC; "
        "e.g. 2026-11-23T10:15:00Z"
    )
    assert world.recorder.operations == []


def test_a_dry_run_shows_the_replica_lag_the_dr_site_and_the_loss_it_would_accept(world, standby):
    primary_down(world)
    world.client("cloudwatch", "eu-central-1").put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{"MetricName": "ReplicaLag", "Value": 4.0, "Timestamp": world.clock.now() - timedelta(minutes=1),
                     "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "sso-dr-replica"}]}],
    )  # fmt: skip
    result = run_failover(world, standby, "--dry-run")
    assert result.code == 0, result.stderr
    doc = result.json()
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["preflight.rpo"]["message"].startswith("a failover now loses 4 s of writes (ReplicaLag at ")
    assert doc["result"]["would_accept"]["lag"]["replica_lag_s"] == 4.0
    assert checks["preflight.dr-site"]["message"].startswith("DR site not ready: ")
    assert "(pilot light: keycloak runs 0 pods until scale-standby)" in checks["preflight.dr-site"]["message"]
    assert any("nothing was declared" in note for note in doc["notes"])
    assert world.recorder.mutating() == [] and world.recorder.runbook_writes() == []
