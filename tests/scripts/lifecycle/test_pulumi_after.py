"""What ``pulumi refresh`` then ``pulumi up`` would do after a recover and after a failback: replace nothing.

Pulumi (pulumi-aws 7, from terraform-provider-aws's ``aws_db_instance``) replaces a DB instance when an input
that forces a new resource differs from the refreshed state: of those the program sets ``kms_key_id``,
``storage_encrypted`` and ``db_name`` (the primary) and the identifier it names it by; the replica's
``replicate_source_db`` is the primary's ARN, which names the identifier (``arn:…:db:<id>``). After refresh
the state holds what AWS holds, so "no replacement" means: under every identifier the program owns there is
again an instance, with those attributes as they were before the incident, and the replica's source is the
ARN the program sets. The buckets are never written outside the runbook's own prefix. moto world with the
replicated-backups simulation, as the other lifecycle tests.
"""

from __future__ import annotations

from tests.scripts.failover_world import primary_down, run_failover
from tests.scripts.lifecycle.test_failover_cycle import failback, lag_answered, reprotect
from tests.scripts.recover_world import instance, recover, replica

FORCE_NEW = ("DBInstanceIdentifier", "KmsKeyId", "StorageEncrypted", "DBName", "Engine")


def _attributes(found: dict) -> dict:
    return {key: found.get(key) for key in FORCE_NEW}


def _owned(world) -> dict[str, dict]:
    return {
        "primary": _attributes(instance(world, "sso-db")),
        "dr_replica": _attributes(replica(world, "sso-dr-replica")),
    }


def _no_bucket_writes(world) -> None:
    writes = [c for c in world.recorder.calls if c.service == "s3" and c.operation.startswith(("Put", "Delete"))]
    assert [c.params["Key"] for c in writes if not c.params.get("Key", "").startswith("idp-dr/")] == []


def test_after_a_recover_pulumi_would_replace_nothing(replicated_backups, world, primary, tmp_path):
    before = _owned(world)
    assert recover(world, primary, tmp_path, "--latest", "--yes").code == 0
    assert _owned(world) == before
    serving = instance(world, "sso-db")
    assert replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"] == serving["DBInstanceArn"]
    assert serving["DBInstanceArn"].endswith(":db:sso-db")  # the program's replicate_source_db
    _no_bucket_writes(world)


def test_after_failover_reprotect_and_failback_pulumi_would_replace_nothing(
    replicated_backups, world, standby, primary, sites, tmp_path
):
    before = _owned(world)
    sites[1].set_ready(True)
    primary.scale("identity", "keycloak", 0)
    primary_down(world)
    assert run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(tmp_path / "failover")).code == 0
    world.faults.clear()
    lag_answered(world)
    assert reprotect(world, tmp_path, "--yes").code == 0
    assert failback(world, standby, primary, tmp_path, "--yes").code == 0
    assert _owned(world) == before
    assert replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:sso-db")
    _no_bucket_writes(world)
