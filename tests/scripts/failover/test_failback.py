"""``failback``: pre-checks before the sticky failover is undone; overrides are recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.scripts.failover_world import health_path, make_kube, primary_down, run_failover
from tests.scripts.world import error, invoke


@pytest.fixture
def failed_over(world, sites):
    """A completed failover (declared after the primary was created: the primary is the stale one)."""
    kube = make_kube(world)
    sites[1].set_ready(True)
    primary_down(world)
    assert run_failover(world, kube, "--yes", "--dns-wait", "0", "--no-reprotect").code == 0
    world.faults.clear()
    world.recorder.calls.clear()
    return kube


def failback(world, kube, *extra: str):
    return invoke(
        ["failback", "--stack-outputs", str(world.outputs_path), "--probe-scheme", "http", "--json", *extra],
        aws=world.aws(),
        clock=world.clock,
        kube=kube,
    )


def rebuild_primary(world) -> None:
    """What the operator does before failing back: a new primary instance built from the DR data."""
    rds = world.client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="sso-db", DeletionProtection=False, ApplyImmediately=True)
    rds.delete_db_instance(DBInstanceIdentifier="sso-db", SkipFinalSnapshot=True)
    rds.create_db_instance(
        DBInstanceIdentifier="sso-db",
        DBInstanceClass="db.r6g.large",
        Engine="postgres",
        EngineVersion="16.4",
        MasterUsername="a",
        MasterUserPassword="b" * 12,
        AllocatedStorage=50,
        BackupRetentionPeriod=7,
    )


def test_failback_is_refused_while_the_primary_is_down_or_stale(world, failed_over):
    result = failback(world, failed_over, "--yes")
    assert result.code == 3
    assert result.error_line.startswith("refusing to fail back: failback.primary-app: primary.readiness: http://")
    assert "HTTP 503" in result.error_line
    assert "failback.primary-db: sso-db was created " in result.error_line
    assert "it is the pre-failover database and lacks every write made in DR" in result.error_line
    assert result.hint_line.startswith("fix the primary site; or, knowing the consequences, re-run with --force")
    assert world.recorder.mutating() == []
    assert health_path(world) == "/idp-dr/failed-over"


def test_failback_after_the_primary_is_rebuilt_restores_the_health_path(world, failed_over, sites):
    sites[0].set_ready(True)
    rebuild_primary(world)
    result = failback(world, failed_over, "--yes", "--dns-wait", "30")
    assert result.code == 0, result.stderr
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert [
        checks[n]["status"]
        for n in (
            "failback.sticky",
            "failback.primary-app",
            "failback.primary-db",
            "failback.versions",
            "failback.route53",
        )
    ] == ["pass"] * 5
    assert checks["failback.versions"]["message"].startswith("PostgreSQL 16.4 (primary) vs 16.4 (DR)")
    assert health_path(world) == "/health/ready"
    assert world.recorder.mutating() == ["route53:UpdateHealthCheck"]
    timeline = json.loads(Path(result.json()["result"]["timeline"]).read_text())
    failback_record = timeline["pinned"]["incident"]["failback"]
    assert failback_record["result"] == "completed" and failback_record["overridden"] == []
    assert timeline["completed_at"]  # the incident is closed: the next failover is a new one


def test_force_needs_a_reason(world, failed_over):
    result = failback(world, failed_over, "--yes", "--force")
    assert result.code == 2
    assert result.error_line == "invalid --reason None: a non-empty explanation when --force overrides pre-checks"


def test_forced_failback_records_what_was_overridden(world, failed_over, sites):
    sites[0].set_ready(True)
    result = failback(world, failed_over, "--yes", "--force", "--reason", "data loss accepted by the CTO")
    assert result.code == 0, result.stderr
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["failback.primary-db"]["status"] == "skipped"
    assert checks["failback.primary-db"]["message"].startswith("FAILED, overridden by --force: sso-db was created")
    timeline = json.loads(Path(result.json()["result"]["timeline"]).read_text())
    failback_record = timeline["pinned"]["incident"]["failback"]
    assert failback_record["reason"] == "data loss accepted by the CTO"
    assert [o.split(":")[0] for o in failback_record["overridden"]] == ["failback.primary-db"]
    assert (
        "pre-checks overridden with --force (data loss accepted by the CTO)"
        in (Path(result.json()["result"]["postmortem"])).read_text()
    )
    assert health_path(world) == "/health/ready"


def test_nothing_to_fail_back_when_no_failover_is_in_effect(world, sites):
    result = invoke(
        ["failback", "--stack-outputs", str(world.outputs_path), "--json"],
        aws=world.aws(),
        clock=world.clock,
        kube=make_kube(world),
    )
    assert result.code == 0
    assert result.json()["notes"] == ["nothing to fail back"]
    assert world.recorder.mutating() == []


def test_a_read_replica_primary_is_not_accepted(world, failed_over, sites):
    """Replication re-established but not promoted: the primary app would hit a read-only database."""
    sites[0].set_ready(True)
    rds = world.client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="sso-db", DeletionProtection=False, ApplyImmediately=True)
    rds.delete_db_instance(DBInstanceIdentifier="sso-db", SkipFinalSnapshot=True)
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="sso-db",
        SourceDBInstanceIdentifier=world.outputs["database"]["drReplicaArn"],
        DBInstanceClass="db.r6g.large",
        SourceRegion="eu-central-1",
    )
    result = failback(world, failed_over, "--yes")
    assert result.code == 3
    assert result.error_line == (
        "refusing to fail back: failback.primary-db: sso-db is still a read replica of "
        f"{world.outputs['database']['drReplicaArn']}: stop writes in DR and "
        "promote it first"
    )


def test_a_failback_whose_route53_wait_times_out_is_recorded_and_the_next_failover_is_a_new_incident(
    world, failed_over, sites
):
    """The path is restored before the wait: the incident must be closed then, or the next disaster's
    failover would resume this one as "already completed" and cut no traffic."""
    sites[0].set_ready(True)
    rebuild_primary(world)
    primary_down(world)  # Route 53 keeps reporting the primary unhealthy: the wait times out
    result = failback(world, failed_over, "--yes", "--dns-wait", "20")
    assert result.code == 4
    assert health_path(world) == "/health/ready"
    incident = world.incident()
    assert incident["failed_back_at"] and incident["failback"]["result"] == "path-restored"
    assert world.incident_state()["completed_at"] == incident["failed_back_at"]  # closed

    # The next disaster: a new failover runs its steps and makes the cut sticky again.
    sites[0].set_ready(False)
    again = run_failover(world, failed_over, "--yes", "--dns-wait", "0", "--no-reprotect")
    assert again.code == 0, again.stderr
    assert not any("already completed" in n for n in again.json()["notes"])
    assert health_path(world) == "/idp-dr/failed-over"


def test_a_concurrent_health_check_change_twice_in_a_row_is_an_aws_error_not_a_traceback(world, failed_over, sites):
    sites[0].set_ready(True)
    rebuild_primary(world)
    world.faults.add(
        "UpdateHealthCheck", lambda p: error("HealthCheckVersionMismatch", "the check changed since you read it")
    )
    result = failback(world, failed_over, "--yes", "--dns-wait", "0")
    assert result.code == 5
    assert result.error_line.endswith(": HealthCheckVersionMismatch: the check changed since you read it")
    assert health_path(world) == "/idp-dr/failed-over"
