"""failover -> reprotect -> failback as one path: after it the primary region serves, protected as before.

moto as in the other lifecycle tests, with the replicated-backups simulation applied before the world is seeded
(SIMULATED: moto has no cross-region automated backups). moto publishes no RDS metrics: ``ReplicaLag`` is answered
in CloudWatch's shape where a test needs it (:func:`lag_answered`, said so). Route 53 health is injected as in the
failover tests; both clusters are the Kubernetes adapter's fake.
"""

from __future__ import annotations

import json

import pytest

from scripts.lifecycle.protection import current_dr_source
from tests.scripts.failover_world import health_path, primary_down, run_failover
from tests.scripts.recover_world import instance, replica, topology_record
from tests.scripts.world import error, invoke

DR = "eu-central-1"


def lag_answered(world, seconds: float = 0.0) -> None:
    """moto has no RDS metrics: ``ReplicaLag`` answered as CloudWatch does, a datapoint at the query's end."""
    world.faults.add(
        "GetMetricStatistics",
        lambda p: {"Label": "ReplicaLag", "Datapoints": [{"Timestamp": p["EndTime"], "Maximum": seconds,
                                                          "Unit": "Seconds"}]}
        if p.get("MetricName") == "ReplicaLag" else None,
    )  # fmt: skip


def reprotect(world, tmp_path, *extra: str):
    argv = ["reprotect", "--stack-outputs", str(world.outputs_path), "--json", "--poll-interval", "1",
            "--state-dir", str(tmp_path / "reprotect"), *extra]  # fmt: skip
    return invoke(argv, aws=world.aws(), clock=world.clock)


def failback(world, standby, primary, tmp_path, *extra: str):
    argv = ["failback", "--stack-outputs", str(world.outputs_path), "--probe-scheme", "http", "--json",
            "--dns-wait", "0", "--poll-interval", "1", "--state-dir", str(tmp_path / "failover"), *extra]  # fmt: skip
    return invoke(argv, aws=world.aws(), clock=world.clock, kube=standby, primary_kube=primary)


@pytest.fixture
def failed_over(replicated_backups, world, standby, primary, sites, tmp_path):
    """A completed failover by promotion (the primary site down: its IdP at 0); then the primary region is back."""
    sites[1].set_ready(True)
    primary.scale("identity", "keycloak", 0)
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(tmp_path / "failover"))
    assert result.code == 0, result.stderr
    world.faults.clear()
    world.recorder.calls.clear()
    return standby


def test_after_a_failover_the_record_says_the_primary_moved_and_a_drill_is_refused(world, failed_over):
    record = topology_record(world)
    promoted = replica(world, "sso-dr-replica")
    assert record["primary"] == {
        "region": DR,
        "instance_id": "sso-dr-replica",
        "resource_id": promoted["DbiResourceId"],
    }
    assert record["failed_over_at"] and record["failback_copy"] is None
    with pytest.raises(Exception) as refused:
        current_dr_source(world.aws(), _outputs(world))
    assert "since the failover at" in str(refused.value)


def test_reprotect_builds_a_caught_up_copy_of_the_dr_primary_in_the_primary_region(world, failed_over, tmp_path):
    lag_answered(world)
    result = reprotect(world, tmp_path, "--yes")
    assert result.code == 0, result.stderr
    doc = result.json()
    copy = instance(world, doc["result"]["copy"])
    assert copy["ReadReplicaSourceDBInstanceIdentifier"] == replica(world, "sso-dr-replica")["DBInstanceArn"]
    old = instance(world, "sso-db")
    assert copy["KmsKeyId"] == old["KmsKeyId"] and copy["DBSubnetGroup"]["DBSubnetGroupName"] == "idp-db"
    assert topology_record(world)["failback_copy"]["instance_id"] == doc["result"]["copy"]
    assert "rds:DeleteDBInstance" not in world.recorder.mutating()
    assert world.recorder.params("ModifyDBInstance") == []  # nothing in production renamed or changed


def test_reprotect_without_a_failover_is_refused_before_any_change(replicated_backups, world, tmp_path):
    result = reprotect(world, tmp_path, "--yes")
    assert result.code == 3
    assert (
        result.error_line == "no failover is in effect (the primary is the stack's own): there is nothing to reprotect"
    )
    assert world.recorder.mutating() == []


def test_reprotect_while_the_primary_region_is_down_is_refused_before_any_change(world, failed_over, tmp_path):
    world.faults.add(
        "DescribeDBInstances",
        lambda p: error("InternalFailure", "region down", 500) if p.get("DBInstanceIdentifier") == "sso-db" else None,
    )
    result = reprotect(world, tmp_path, "--yes")
    assert result.code == 3
    assert result.error_line.startswith("the primary region eu-west-1 does not answer (")
    assert result.error_line.endswith("): reprotect builds the copy there")
    assert world.recorder.mutating() == []


def test_failback_after_reprotect_switches_back_without_force_and_restores_protection(
    world, failed_over, primary, tmp_path
):
    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0
    copy = topology_record(world)["failback_copy"]
    result = failback(world, failed_over, primary, tmp_path, "--yes")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [s["name"] for s in doc["steps"] if "." not in s["name"]] == [
        "pre-checks", "stop-writes", "drain", "promote", "swap", "start-primary", "verify", "cut-back", "protect",
        "standby", "record",
    ]  # fmt: skip
    serving = instance(world, "sso-db")
    assert serving["DbiResourceId"] == copy["resource_id"] and not serving.get("ReadReplicaSourceDBInstanceIdentifier")
    assert health_path(world) == world.outputs["dns"]["healthPath"]
    # The original direction of protection: the DR replica follows the primary, its backups replicate to DR.
    assert replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"] == serving["DBInstanceArn"]
    source = current_dr_source(world.aws(), _outputs(world))
    assert (source.source, source.resolved_by) == ("sso-db", "live")
    record = topology_record(world)
    assert record["primary"]["resource_id"] == serving["DbiResourceId"]
    assert record["failed_over_at"] is None and record["failback_copy"] is None
    incident = json.loads((tmp_path / "failover" / "state.json").read_text())["pinned"]["incident"]
    assert incident["failed_back_at"] and incident["failback"]["result"] == "completed"  # the next failover is new
    assert not any("--force" in line for line in doc.get("notes", []))
    kept = [i["DBInstanceIdentifier"] for i in world.client("rds").describe_db_instances()["DBInstances"]]
    assert any(n.startswith("sso-db-prefailover-") for n in kept)  # the pre-failover primary, kept
    assert primary.state["deployments"]["identity/keycloak"]["replicas"] == world.outputs["standby"]["primaryReplicas"]


def test_failback_waits_for_a_lag_of_zero_after_writes_stop_and_a_rerun_resumes_there(
    world, failed_over, primary, tmp_path
):
    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0
    world.faults.clear()
    lag_answered(world, 12.0)  # within the RPO target, but not zero: the DR primary's last writes on their way
    result = failback(world, failed_over, primary, tmp_path, "--yes", "--drain-timeout", "30")
    assert result.code == 4
    assert result.error_line.endswith(
        " to catch up with the stopped DR primary not done after 30.0 s (timeout 30.0 s); last state: "
        f"{topology_record(world)['failback_copy']['instance_id']}: ReplicaLag 12 s"
    )
    assert world.recorder.params("PromoteReadReplica") == []  # nothing switched while the copy lags
    world.faults.clear()
    lag_answered(world)
    resumed = failback(world, failed_over, primary, tmp_path, "--yes")
    assert resumed.code == 0, resumed.stderr
    steps = {s["name"]: s["status"] for s in resumed.json()["steps"]}
    assert steps["stop-writes"] == "skipped" and steps["drain"] == "resumed"  # after its timeout


def test_a_copy_lagging_beyond_the_rpo_target_is_refused_before_any_change(world, failed_over, primary, tmp_path):
    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0
    world.faults.clear()
    target = world.outputs["rpoTargetSeconds"]
    lag_answered(world, target + 60.0)
    world.recorder.calls.clear()
    result = failback(world, failed_over, primary, tmp_path, "--yes")
    assert result.code == 3
    copy = topology_record(world)["failback_copy"]["instance_id"]
    assert result.error_line == (
        f"refusing to fail back: the copy {copy}'s ReplicaLag is {target + 60} s (at most {target} s wanted)"
    )
    assert world.recorder.mutating() == []
    assert failed_over.state["deployments"]["identity/keycloak"]["replicas"] > 0  # the DR site still serves


def test_a_failback_interrupted_after_the_promotion_resumes_and_finishes(
    world, failed_over, primary, tmp_path, monkeypatch
):
    from scripts.failover import switchback

    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0
    real = switchback.Switchback.swap

    def interrupted_once(self):
        monkeypatch.setattr(switchback.Switchback, "swap", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(switchback.Switchback, "swap", interrupted_once)
    assert failback(world, failed_over, primary, tmp_path, "--yes").code == 130
    resumed = failback(world, failed_over, primary, tmp_path, "--yes")
    assert resumed.code == 0, resumed.stderr
    assert len(world.recorder.params("PromoteReadReplica")) >= 1
    assert instance(world, "sso-db")["DbiResourceId"] == topology_record(world)["primary"]["resource_id"]


def _outputs(world):
    from contract.outputs import StackOutputs

    return StackOutputs.model_validate(world.outputs)


def test_recover_while_a_failover_is_in_effect_is_refused_before_any_change(world, failed_over, primary, tmp_path):
    from tests.scripts.recover_world import recover

    result = recover(world, primary, tmp_path, "--latest", "--yes")
    assert result.code == 3
    record = topology_record(world)
    assert result.error_line == (
        f"a failover is in effect since {record['failed_over_at']}: the primary is sso-dr-replica in eu-central-1, "
        "and sso-db in eu-west-1 is the pre-failover database"
    )
    assert world.recorder.mutating() == []


@pytest.mark.parametrize("step", ["backups", "copy", "catch_up", "record_copy"])
def test_reprotect_interrupted_at_each_step_resumes_and_creates_one_copy(
    world, failed_over, tmp_path, monkeypatch, step
):
    from scripts.failover import reprotect as module

    lag_answered(world)
    real = getattr(module.Reprotect, step)

    def interrupted_once(self):
        monkeypatch.setattr(module.Reprotect, step, real)
        raise KeyboardInterrupt

    monkeypatch.setattr(module.Reprotect, step, interrupted_once)
    assert reprotect(world, tmp_path, "--yes").code == 130
    resumed = reprotect(world, tmp_path, "--yes")
    assert resumed.code == 0, resumed.stderr
    assert len(world.recorder.params("CreateDBInstanceReadReplica")) == 1
    assert topology_record(world)["failback_copy"]["instance_id"] == resumed.json()["result"]["copy"]


@pytest.mark.parametrize(
    "step",
    [
        "stop_writes",
        "drain",
        "promote",
        "swap",
        "start_primary",
        "verify",
        "cut_back",
        "protect",
        "standby",
        "record_home",
    ],
)
def test_failback_interrupted_at_each_step_resumes_and_ends_home(
    world, failed_over, primary, tmp_path, monkeypatch, step
):
    from scripts.failover import switchback

    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0
    real = getattr(switchback.Switchback, step)

    def interrupted_once(self):
        monkeypatch.setattr(switchback.Switchback, step, real)
        raise KeyboardInterrupt

    monkeypatch.setattr(switchback.Switchback, step, interrupted_once)
    assert failback(world, failed_over, primary, tmp_path, "--yes").code == 130
    resumed = failback(world, failed_over, primary, tmp_path, "--yes")
    assert resumed.code == 0, resumed.stderr
    record = topology_record(world)
    assert (
        record["failed_over_at"] is None
        and record["primary"]["resource_id"] == instance(world, "sso-db")["DbiResourceId"]
    )
    assert len(world.recorder.params("PromoteReadReplica")) >= 1
    assert replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:sso-db")


def test_a_planned_failover_stops_the_primary_drains_the_replica_and_needs_no_force(
    replicated_backups, world, standby, primary, sites, tmp_path
):
    sites[1].set_ready(True)
    lag_answered(world)
    result = run_failover(world, standby, "--yes", "--planned", "--dns-wait", "0", "--primary-kube-adapter", "kubectl",
                          primary_kube=primary)  # fmt: skip
    assert result.code == 0, result.stderr
    doc = result.json()
    steps = [s["name"] for s in doc["steps"] if "." not in s["name"]]
    assert steps[:4] == ["detect", "preflight", "stop-primary", "database"]
    assert primary.state["deployments"]["identity/keycloak"]["replicas"] == 0  # nothing writes to the old primary
    stop = next(s for s in doc["steps"] if s["name"] == "stop-primary")
    assert stop["detail"]["replica_lag_s"] == 0
    assert not any("FORCED" in n for n in doc["notes"])
    assert topology_record(world)["failed_over_at"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--planned",),
            "invalid --primary-kube-adapter None: kubectl or fake:FILE with --planned (it stops the primary site)",
        ),
        (
            ("--planned", "--primary-kube-adapter", "kubectl", "--force", "--reason", "x"),
            "invalid --planned True: not with --force: a planned failover expects a healthy primary",
        ),
        (("--primary-kube-adapter", "kubectl"), "invalid --primary-kube-adapter 'kubectl': only with --planned"),
    ],
)
def test_planned_flags_are_refused_before_any_call(world, standby, extra, message):
    result = run_failover(world, standby, "--yes", *extra)
    assert result.code == 2
    assert result.error_line == message
    assert world.recorder.operations == []


def test_dry_runs_of_reprotect_and_failback_change_nothing(world, failed_over, primary, tmp_path):
    lag_answered(world)
    dry = reprotect(world, tmp_path, "--dry-run")
    assert dry.code == 0, dry.stderr
    assert [line.split(" ", 1)[0] for line in dry.json()["result"]["plan"]] == [
        "rds:StartDBInstanceAutomatedBackupsReplication", "rds:CreateDBInstanceReadReplica", "wait", "s3:PutObject",
    ]  # fmt: skip
    assert world.recorder.mutating() == [] and world.recorder.runbook_writes() == []
    assert reprotect(world, tmp_path, "--yes").code == 0
    world.recorder.calls.clear()
    would = failback(world, failed_over, primary, tmp_path, "--dry-run")
    assert would.code == 0, would.stderr
    assert would.json()["result"]["would_run"][:3] == ["stop-writes", "drain", "promote"]
    assert world.recorder.mutating() == [] and world.recorder.runbook_writes() == []
    assert failed_over.state["deployments"]["identity/keycloak"]["replicas"] > 0  # the DR site still serves
