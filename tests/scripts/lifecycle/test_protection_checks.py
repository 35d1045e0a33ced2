"""``check dr-paths`` watches what serves, not what the stack outputs name: protection after recover, failover and
failback. moto with the replicated-backups simulation (SIMULATED, as in the other lifecycle tests)."""

from __future__ import annotations

import json
from datetime import timedelta

from contract.backups import DR_PATH_METRIC_NAMESPACE, DR_PROTECTION_GAPS_METRIC
from scripts.timeutil import iso, utcnow
from tests.scripts.failover_world import primary_down, run_failover
from tests.scripts.recover_world import recover
from tests.scripts.world import error, invoke


def dr_paths(world, *extra: str):
    argv = ["check", "dr-paths", "--stack-outputs", str(world.outputs_path), "--json", "--metric-namespace",
            DR_PATH_METRIC_NAMESPACE, "--metric-stack", "sso", *extra]  # fmt: skip
    return invoke(argv, aws=world.aws())


def checks(result) -> dict[str, dict]:
    return {c["name"]: c for c in result.json()["checks"]}


def gaps(world) -> float:
    return next(
        d["Value"] for p in world.recorder.params("PutMetricData") for d in p["MetricData"]
        if d["MetricName"] == DR_PROTECTION_GAPS_METRIC
    )  # fmt: skip


def test_a_protected_primary_passes(replicated_backups, world):
    result = dr_paths(world)
    found = checks(result)
    assert found["protection.replica"]["status"] == "pass" and found["protection.backups"]["status"] == "pass"
    assert gaps(world) == 0


def test_a_promoted_replica_is_a_gap(replicated_backups, world):
    world.client("rds", "eu-central-1").promote_read_replica(DBInstanceIdentifier="sso-dr-replica")
    result = dr_paths(world)
    assert result.code == 1
    message = checks(result)["protection.replica"]["message"]
    assert message.startswith("sso-dr-replica does not replicate the primary sso-db (")
    assert message.endswith("sso-dr-replica is standalone (promoted): it replicates nothing; a failover by promotion "
                            "would not bring back the primary's data")  # fmt: skip
    assert gaps(world) == 1


def test_after_a_recover_whose_backup_replication_failed_the_primarys_backups_are_a_gap(
    replicated_backups, world, primary, tmp_path
):
    world.faults.add("StartDBInstanceAutomatedBackupsReplication", lambda p: error("KMSKeyNotAccessibleFault", "no"))
    assert recover(world, primary, tmp_path, "--latest", "--yes").code == 1
    world.faults.clear()
    world.recorder.calls.clear()
    result = dr_paths(world)
    assert result.code == 1
    message = checks(result)["protection.backups"]["message"]
    assert message.startswith("the primary sso-db (") and message.endswith(
        "eu-west-1)'s automated backups are not replicated to eu-central-1"
    )
    assert checks(result)["protection.replica"]["status"] == "pass"  # recover rebuilt it from the restored primary
    assert gaps(world) == 1


def test_a_failover_left_unprotected_too_long_is_a_gap_until_reprotect(
    replicated_backups, world, standby, sites, tmp_path
):
    sites[1].set_ready(True)
    primary_down(world)
    assert run_failover(world, standby, "--yes", "--dns-wait", "0", "--no-reprotect").code == 0
    world.faults.clear()
    world.recorder.calls.clear()
    fresh = dr_paths(world, "--failover-max-unprotected", "1h")
    assert checks(fresh)["protection.failover"]["status"] == "pass"
    assert checks(fresh)["protection.replica"]["status"] == "skipped"  # the primary is the DR region's now
    record_key = "idp-dr/runbook/topology/state.json"
    s3 = world.client("s3", "eu-central-1")
    bucket = world.outputs["archive"]["drBucket"]
    record = json.loads(s3.get_object(Bucket=bucket, Key=record_key)["Body"].read())
    record["failed_over_at"] = iso(utcnow() - timedelta(hours=2))  # as if two hours had passed
    s3.put_object(Bucket=bucket, Key=record_key, Body=json.dumps(record).encode())
    world.recorder.calls.clear()
    late = dr_paths(world, "--failover-max-unprotected", "1h")
    assert late.code == 1
    assert checks(late)["protection.failover"]["message"].startswith("failed over 2h00m ago and not reprotected")
    assert gaps(world) == 1


def test_a_bad_failover_limit_is_refused_before_any_call(world):
    result = dr_paths(world, "--failover-max-unprotected", "0")
    assert result.code == 2
    assert result.error_line == "invalid --failover-max-unprotected 0.0: hours from 1 to 2160 (90 days)"
    assert world.recorder.operations == []
