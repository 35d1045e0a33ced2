"""PitrDatabase invariants: one test per DR rule, on the recorded inputs."""

from __future__ import annotations

import json

from tests.unit.conftest import is_secret, run_stack, unwrap

INSTANCE = "aws:rds/instance:Instance"
REPLICATION = "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"


def primary_db(run):
    return run.recorder.by_name("sso-database-db")


def key_region(run, arn: str) -> str:
    return arn.split(":")[3]


def test_primary_db_runs_in_primary_region_with_explicit_provider(default_run):
    db = primary_db(default_run)
    assert db.provider_name == "aws-primary"
    assert db.region == "eu-west-1"


def test_primary_db_encrypted_with_a_primary_region_cmk(default_run):
    db = primary_db(default_run)
    key = default_run.recorder.by_name("sso-database-primary-key")
    assert db.inputs["storageEncrypted"] is True
    assert db.inputs["kmsKeyId"] == key.outputs["arn"]
    assert key_region(default_run, db.inputs["kmsKeyId"]) == "eu-west-1"


def test_primary_db_is_multi_az_private_and_keeps_a_14_day_pitr_window(default_run):
    inputs = primary_db(default_run).inputs
    assert inputs["multiAz"] is True
    assert inputs["publiclyAccessible"] is False
    assert inputs["backupRetentionPeriod"] == 14


def test_primary_db_is_deletion_protected_and_pulumi_protected(default_run):
    db = primary_db(default_run)
    assert db.inputs["deletionProtection"] is True
    assert db.protect is True


def test_primary_db_takes_a_final_snapshot_and_keeps_automated_backups(default_run):
    inputs = primary_db(default_run).inputs
    assert inputs["skipFinalSnapshot"] is False
    assert inputs["finalSnapshotIdentifier"] == "sso-db-final"
    assert inputs["deleteAutomatedBackups"] is False


def test_primary_db_copies_tags_to_snapshots(default_run):
    assert primary_db(default_run).inputs["copyTagsToSnapshot"] is True


def test_primary_db_has_no_password_input_and_a_managed_master_secret(default_run):
    db = primary_db(default_run)
    assert "password" not in db.inputs
    assert db.inputs["manageMasterUserPassword"] is True
    assert db.inputs["masterUserSecretKmsKeyId"] == db.inputs["kmsKeyId"]
    assert default_run.outputs["database"]["masterSecretArn"].startswith("arn:aws:secretsmanager:eu-west-1:")


def test_explicit_master_password_used_only_when_managed_passwords_are_off():
    run = run_stack({"idp-dr:database": {"manageMasterPassword": False}, "idp-dr:masterPassword": "pw-1234567"})
    inputs = run.recorder.by_name("sso-database-db").inputs
    assert is_secret(inputs["password"]) and unwrap(inputs["password"]) == "pw-1234567"
    assert "manageMasterUserPassword" not in inputs


def test_performance_insights_encrypted_with_the_cmk(default_run):
    inputs = primary_db(default_run).inputs
    assert inputs["performanceInsightsEnabled"] is True
    assert inputs["performanceInsightsKmsKeyId"] == inputs["kmsKeyId"]


def test_parameter_groups_force_tls_in_both_regions(default_run):
    groups = default_run.recorder.of_type("aws:rds/parameterGroup:ParameterGroup")
    assert sorted(g.region for g in groups) == ["eu-central-1", "eu-west-1"]
    for group in groups:
        params = {p["name"]: p["value"] for p in group.inputs["parameters"]}
        assert params["rds.force_ssl"] == "1", group.name
        assert group.inputs["family"] == "postgres16"
    assert (
        primary_db(default_run).inputs["parameterGroupName"]
        == default_run.recorder.by_name("sso-database-params").outputs["name"]
    )


def test_backup_replication_is_created_in_the_dr_region_with_a_dr_key(default_run):
    [replication] = default_run.recorder.of_type(REPLICATION)
    dr_key = default_run.recorder.by_name("sso-database-dr-key")
    assert replication.provider_name == "aws-dr"
    assert replication.region == "eu-central-1"
    assert replication.inputs["kmsKeyId"] == dr_key.outputs["arn"]
    assert key_region(default_run, replication.inputs["kmsKeyId"]) == "eu-central-1"
    assert replication.inputs["sourceDbInstanceArn"] == primary_db(default_run).outputs["arn"]


def test_backup_replication_retention_at_least_the_source_window(default_run):
    [replication] = default_run.recorder.of_type(REPLICATION)
    assert replication.inputs["retentionPeriod"] >= primary_db(default_run).inputs["backupRetentionPeriod"]


def test_bring_your_own_dr_key_is_used_and_no_dr_key_is_created():
    arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    run = run_stack({"idp-dr:database": {"drKmsKeyArn": arn}})
    [replication] = run.recorder.of_type(REPLICATION)
    assert replication.inputs["kmsKeyId"] == arn
    assert [r.name for r in run.recorder.of_type("aws:kms/key:Key") if r.name.startswith("sso-database")] == [
        "sso-database-primary-key"
    ]


def test_no_dr_replica_unless_configured(default_run):
    replicas = [r for r in default_run.recorder.of_type(INSTANCE) if r.inputs.get("replicateSourceDb")]
    assert replicas == []
    assert default_run.outputs["database"]["drReplicaInstanceId"] is None


def test_dr_replica_lives_in_the_dr_region_encrypted_with_the_dr_key(warm_run):
    replica = warm_run.recorder.by_name("sso-database-dr-replica")
    assert replica.provider_name == "aws-dr"
    assert replica.inputs["replicateSourceDb"] == warm_run.recorder.by_name("sso-database-db").outputs["arn"]
    assert replica.inputs["kmsKeyId"] == warm_run.recorder.by_name("sso-database-dr-key").outputs["arn"]
    assert replica.inputs["dbSubnetGroupName"] == warm_run.recorder.by_name("sso-database-dr-subnets").outputs["name"]
    assert replica.inputs["publiclyAccessible"] is False
    assert replica.protect is True


def test_replica_lag_alarm_fires_above_the_declared_rpo(warm_run):
    alarm = warm_run.recorder.by_name("sso-database-dr-replica-lag")
    assert alarm.region == "eu-central-1"
    assert alarm.inputs["metricName"] == "ReplicaLag"
    assert alarm.inputs["threshold"] == 300
    assert alarm.inputs["dimensions"] == {"DBInstanceIdentifier": "sso-dr-replica"}
    assert alarm.inputs["alarmActions"] == [warm_run.recorder.by_name("sso-alarms-dr").outputs["arn"]]


def test_low_storage_alarm_on_the_primary(default_run):
    alarm = default_run.recorder.by_name("sso-database-low-storage")
    assert alarm.region == "eu-west-1"
    assert alarm.inputs["metricName"] == "FreeStorageSpace"
    assert alarm.inputs["threshold"] == 10 * 1024**3


def test_dr_network_settings_exist_for_restores_and_promotions(default_run):
    out = default_run.outputs["database"]
    assert out["drSubnetGroupName"] == default_run.recorder.by_name("sso-database-dr-subnets").outputs["name"]
    assert out["drParameterGroupName"] == default_run.recorder.by_name("sso-database-dr-params").outputs["name"]
    dr_sg = default_run.recorder.by_name("sso-database-dr-sg")
    assert dr_sg.region == "eu-central-1"
    assert dr_sg.inputs["vpcId"] == "vpc-0f1e2d3c4b5a69788"
    assert len(out["drSecurityGroupIds"]) == 1 and out["drSecurityGroupIds"][0].startswith("sg-")


def test_database_accepts_postgres_only_from_the_app_cidrs(default_run):
    rules = default_run.recorder.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    by_region = {r.region: (r.inputs["cidrIpv4"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules}
    assert by_region == {"eu-west-1": ("10.10.0.0/16", 5432, 5432), "eu-central-1": ("10.20.0.0/16", 5432, 5432)}


def test_warm_standby_cidrs_admitted_to_the_primary_database(warm_run):
    rules = [
        r
        for r in warm_run.recorder.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.region == "eu-west-1"
    ]
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == ["10.10.0.0/16", "10.20.0.0/16"]


def test_kms_keys_rotate_are_described_protected_and_never_bypass_lockout(default_run):
    keys = default_run.recorder.of_type("aws:kms/key:Key")
    assert len(keys) == 7  # database + archive + alarm topic, in each region; alarm topic in us-east-1
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True, key.name
        assert key.inputs["description"], key.name
        assert not key.inputs.get("bypassPolicyLockoutSafetyCheck"), key.name
        assert key.protect is True, key.name


def test_the_dr_replica_is_ready_to_be_production_once_promoted(warm_run):
    [replica] = [r for r in warm_run.recorder.of_type("aws:rds/instance:Instance") if r.inputs.get("replicateSourceDb")]
    assert replica.inputs["multiAz"] is True
    assert replica.inputs["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert replica.inputs["backupRetentionPeriod"] == 14  # the configured PITR window, kept after promotion


def test_primary_and_dr_replica_send_enhanced_monitoring_through_their_sites_role(warm_run):
    rec = warm_run.recorder
    instances = rec.of_type("aws:rds/instance:Instance")
    assert len(instances) == 2  # the primary and the DR replica
    for instance in instances:
        assert instance.inputs["monitoringInterval"] == 60, instance.name
        role = next(
            r for r in rec.of_type("aws:iam/role:Role") if r.outputs["arn"] == instance.inputs["monitoringRoleArn"]
        )
        assert role.provider_name == instance.provider_name
        [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
        # Only RDS acting for this stack's account: another account's instance cannot use the role.
        account = warm_run.outputs["database"]["drKmsKeyArn"].split(":")[4]
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
        [attachment] = [
            a
            for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.inputs["role"] == role.outputs["name"]
        ]
        assert attachment.inputs["policyArn"].endswith(":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")


def test_enhanced_monitoring_can_be_turned_off():
    run = run_stack({"idp-dr:database": {"enhancedMonitoringSeconds": 0}})
    [instance] = run.recorder.of_type("aws:rds/instance:Instance")
    assert instance.inputs["monitoringInterval"] == 0 and "monitoringRoleArn" not in instance.inputs
