"""Commands chained the way a year runs them: after ``recover --method swap``, the next command's inputs are true.

The replicated-backups simulation (:func:`scripts.sandbox.motofix.apply_replicated_backups`, SIMULATED: moto has
no cross-region automated backups) is applied before the world is seeded, so the seeded primary's backups
replicate, recover's ``StartDBInstanceAutomatedBackupsReplication`` is recorded, and each instance's replicated
backups are listed by its ``DbiResourceId`` as on AWS. Renames are moto's, with replicas kept on their source
(:mod:`scripts.sandbox.motofix`).
"""

from __future__ import annotations

import json

import pytest

from scripts.lifecycle import replica as replica_module
from scripts.lifecycle.protection import current_dr_source
from scripts.sandbox.motofix import replicated_backups_id
from tests.scripts.recover_world import instance, recover, replica, topology_record
from tests.scripts.world import error


def _swap(world, primary, tmp_path):
    result = recover(world, primary, tmp_path, "--latest", "--yes")
    assert result.code == 0, result.stderr
    return instance(world, "sso-db")


def _arn(world, resource_id: str) -> str:
    account = world.outputs["database"]["replicatedBackupsArn"].split(":")[4]
    return f"arn:aws:rds:eu-central-1:{account}:auto-backup:{replicated_backups_id(resource_id)}"


def test_before_any_recover_the_stack_outputs_are_the_truth(replicated_backups, world):
    source = current_dr_source(world.aws(), _outputs(world))
    assert (source.source, source.backups_arn, source.resolved_by) == (
        "sso-db",
        world.outputs["database"]["replicatedBackupsArn"],
        "live",
    )
    assert source.notes == []


def test_a_drill_after_recover_restores_the_restored_primarys_backups(
    replicated_backups, world, primary, drill, tmp_path
):
    damaged_arn = world.outputs["database"]["replicatedBackupsArn"]
    serving = _swap(world, primary, tmp_path)
    world.recorder.calls.clear()
    result = drill()
    assert result.code == 0, result.stderr
    [request] = world.recorder.params("RestoreDBInstanceToPointInTime")
    assert request["SourceDBInstanceAutomatedBackupsArn"] == _arn(world, serving["DbiResourceId"]) != damaged_arn
    doc = result.json()
    assert doc["result"]["dr_source"] == {
        "source": "sso-db",
        "backups_arn": _arn(world, serving["DbiResourceId"]),
        "resolved_by": "live",
    }
    assert any(f"database.replicatedBackupsArn ({damaged_arn}) is stale" in note for note in doc["notes"])


def test_while_the_primary_region_is_down_the_record_names_the_primary(replicated_backups, world, primary, tmp_path):
    serving = _swap(world, primary, tmp_path)
    assert topology_record(world)["primary"]["resource_id"] == serving["DbiResourceId"]
    world.faults.add(
        "DescribeDBInstances",
        lambda p: (
            error("InternalFailure", "eu-west-1 is down", 500) if p.get("DBInstanceIdentifier") == "sso-db" else None
        ),
    )
    source = current_dr_source(world.aws(max_attempts=1), _outputs(world))
    assert (source.backups_arn, source.resolved_by) == (_arn(world, serving["DbiResourceId"]), "record")


def test_backups_of_an_instance_that_is_no_longer_primary_are_refused_naming_both(
    replicated_backups, world, primary, drill, tmp_path
):
    damaged = instance(world, "sso-db")
    world.faults.add("StartDBInstanceAutomatedBackupsReplication", lambda p: error("KMSKeyNotAccessibleFault", "no"))
    result = recover(world, primary, tmp_path, "--latest", "--yes")
    assert result.code == 1  # follow's check: the new primary's backups are NOT replicated
    serving = instance(world, "sso-db")
    world.recorder.calls.clear()
    refused = drill()
    assert refused.code == 3, refused.stderr
    stamp = json.loads((tmp_path / "state" / "timeline.json").read_text())["pinned"]["incident"]
    assert stamp
    assert refused.error_line == (
        f"the stack's replicated backups {world.outputs['database']['replicatedBackupsArn']} belong to "
        f"{instance(world, _damaged_name(world))['DBInstanceIdentifier']} ({damaged['DbiResourceId']}), which is "
        f"not the primary: the primary is sso-db ({serving['DbiResourceId']}), and its backups are not replicated "
        "to eu-central-1"
    )
    assert "rds:RestoreDBInstanceToPointInTime" not in world.recorder.mutating()


def test_a_recover_interrupted_while_the_replica_is_created_finishes_without_a_second_one(
    replicated_backups, world, primary, tmp_path, monkeypatch
):
    real = replica_module._wait

    def interrupted_once(*args):
        monkeypatch.setattr(replica_module, "_wait", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(replica_module, "_wait", interrupted_once)
    assert recover(world, primary, tmp_path, "--latest", "--yes").code == 130
    resumed = recover(world, primary, tmp_path, "--latest", "--yes")
    assert resumed.code == 0, resumed.stderr
    assert len(world.recorder.params("CreateDBInstanceReadReplica")) == 1
    assert (
        replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"]
        == instance(world, "sso-db")["DBInstanceArn"]
    )


def test_a_second_recover_rebuilds_the_replica_from_the_newer_primary(replicated_backups, world, primary, tmp_path):
    first = _swap(world, primary, tmp_path)
    second = _swap(world, primary, tmp_path)
    assert first["DbiResourceId"] != second["DbiResourceId"]
    assert replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"] == second["DBInstanceArn"]
    stale = [
        i["DBInstanceIdentifier"]
        for i in world.client("rds", "eu-central-1").describe_db_instances()["DBInstances"]
        if i["DBInstanceIdentifier"].startswith("sso-dr-replica-stale-")
    ]
    assert len(stale) == 2  # each incident's stale replica is kept for its own forensics
    source = current_dr_source(world.aws(), _outputs(world))
    assert source.backups_arn == _arn(world, second["DbiResourceId"])


def test_a_promoted_replica_is_left_alone_and_not_called_a_replica(replicated_backups, world, primary, tmp_path):
    world.client("rds", "eu-central-1").promote_read_replica(DBInstanceIdentifier="sso-dr-replica")
    result = recover(world, primary, tmp_path, "--latest", "--yes")
    assert result.code == 0, result.stderr
    notes = result.json()["notes"]
    assert not any("still replicates the damaged instance" in n for n in notes)
    assert any("sso-dr-replica is standalone (promoted): it protects nothing" in n for n in notes)
    assert world.recorder.params("CreateDBInstanceReadReplica") == []


def _damaged_name(world) -> str:
    names = [i["DBInstanceIdentifier"] for i in world.client("rds").describe_db_instances()["DBInstances"]]
    return next(n for n in names if n.startswith("sso-db-damaged-"))


def _outputs(world):
    from contract.outputs import StackOutputs

    return StackOutputs.model_validate(world.outputs)


def test_a_failover_by_restore_after_recover_restores_the_restored_primarys_backups(
    replicated_backups, world, primary, standby, sites, tmp_path
):
    from tests.scripts.failover_world import primary_down, run_failover

    damaged_arn = world.outputs["database"]["replicatedBackupsArn"]
    serving = _swap(world, primary, tmp_path)
    sites[1].set_ready(True)
    primary.scale("identity", "keycloak", 0)  # then the region is lost
    primary_down(world)
    world.recorder.calls.clear()
    result = run_failover(world, standby, "--mode", "restore", "--yes", "--dns-wait", "0", "--state-dir",
                          str(tmp_path / "failover"))  # fmt: skip
    assert result.code == 0, result.stderr
    [request] = world.recorder.params("RestoreDBInstanceToPointInTime")
    assert request["SourceDBInstanceAutomatedBackupsArn"] == _arn(world, serving["DbiResourceId"]) != damaged_arn
    assert any(f"database.replicatedBackupsArn ({damaged_arn}) is stale" in n for n in result.json()["notes"])


@pytest.mark.parametrize(
    ("body", "allowed"),
    [
        (b"not json", "a topology record written by idp-dr (version 1); this one is not JSON"),
        (b"[" * 100000, "a topology record written by idp-dr (version 1); this one is not JSON"),
        (b'{"version": 2, "primary": {}}', "a topology record written by idp-dr (version 1); this one is not"),
        (
            b'{"version": 1, "primary": {"region": "eu-west-1"}}',
            "a topology record written by idp-dr (version 1); its primary lacks region, instance_id, resource_id",
        ),
        (
            b'{"version": 1, "primary": {"region": "r", "instance_id": "i", "resource_id": "d"}, "failed_over_at": 5}',
            "a topology record written by idp-dr (version 1); its times are not text",
        ),
        (b"x" * (1 << 21), "a topology record written by idp-dr (version 1) of at most 1 MiB; it has 2097152 bytes"),
    ],
)
def test_a_damaged_or_crafted_topology_record_is_refused_before_any_change(world, tmp_path, body, allowed):
    from tests.scripts.world import invoke

    bucket = world.outputs["archive"]["drBucket"]
    world.client("s3", "eu-central-1").put_object(Bucket=bucket, Key="idp-dr/runbook/topology/state.json", Body=body)
    world.recorder.calls.clear()
    argv = ["check", "dr-paths", "--stack-outputs", str(world.outputs_path)]
    result = invoke(argv, aws=world.aws())
    where = f"s3://{bucket}/idp-dr/runbook/topology/state.json"
    assert result.code == 2, result.stderr
    assert result.error_line == f"invalid topology record {where!r}: {allowed}"
    assert world.recorder.mutating() == []


def test_restore_rds_from_the_stale_stack_arn_points_at_the_primarys_own_backups(
    replicated_backups, world, primary, tmp_path
):
    """The stack's restoreCommand output, pasted after a recover: it names the damaged instance's backups."""
    from tests.scripts.world import invoke

    stale = world.outputs["database"]["replicatedBackupsArn"]
    serving = _swap(world, primary, tmp_path)
    world.recorder.calls.clear()
    argv = ["restore", "rds", "--region", "eu-central-1", "--source", "sso-db", "--from-replicated-backups", stale,
            "--target", "sso-dr-restore", "--latest", "--master-secret-kms-key",
            world.outputs["database"]["drKmsKeyArn"]]  # fmt: skip
    result = invoke(argv, aws=world.aws(), clock=world.clock)
    assert result.code == 2
    live = _arn(world, serving["DbiResourceId"])
    damaged = instance(world, _damaged_name(world))
    assert result.error_line == (
        f"invalid --from-replicated-backups {stale!r}: the replicated backups of --source sso-db: {live}; these "
        f"belong to {damaged['DBInstanceIdentifier']} ({damaged['DbiResourceId']})"
    )
    assert result.hint_line == f"use --from-replicated-backups {live}"
    assert world.recorder.mutating() == []
