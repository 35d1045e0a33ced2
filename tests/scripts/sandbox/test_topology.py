"""The sandbox seeds the example production stack's database (Pulumi.prod.yaml), not numbers of its own: what a
user reads in the guide and what they try in the sandbox are one set of facts."""

from __future__ import annotations

import yaml

from scripts.offline import REPO_ROOT
from scripts.sandbox.topology import example_database


def test_the_seeded_database_is_the_example_stacks(world):
    written = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]["idp-dr:database"]
    primary = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]
    assert (primary["DBInstanceClass"], primary["BackupRetentionPeriod"], primary["EngineVersion"]) == (
        written["instanceClass"], written["backupRetentionDays"], written["engineVersion"])  # fmt: skip
    assert primary["AllocatedStorage"] == written["allocatedStorageGb"]
    replica = world.client("rds", "eu-central-1").describe_db_instances(DBInstanceIdentifier="sso-dr-replica")
    assert replica["DBInstances"][0]["DBInstanceClass"] == written["drReplicaInstanceClass"]
    assert example_database().replicated_retention == written["replicatedBackupRetentionDays"]
