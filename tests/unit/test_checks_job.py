"""The DR side's scheduled check: a CronJob in the DR cluster that only reads and puts one metric, and its alarm."""

from __future__ import annotations

import json

from contract.backups import (
    DR_KEYS_METRIC,
    DR_PATH_METRIC_NAMESPACE,
    DR_PROTECTION_GAPS_METRIC,
    REPLICATED_BACKUP_AGE_METRIC,
)
from scripts.check.cli import run_dr_paths
from scripts.cli import build_parser
from tests.unit.conftest import run_stack

CRONJOB = "kubernetes:batch/v1:CronJob"
WITH_IMAGE = {"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}}


def the_cronjob(run):
    [job] = [j for j in run.recorder.of_type(CRONJOB) if j.inputs["metadata"]["name"] == "idp-dr-checks"]
    return job


def test_no_checks_job_without_an_image_or_when_disabled(default_run):
    assert default_run.recorder.of_type(CRONJOB) == []
    off = run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0", "checks": {"enabled": False}}})
    assert "idp-dr-checks" not in [j.inputs["metadata"]["name"] for j in off.recorder.of_type(CRONJOB)]


def test_it_runs_the_check_hourly_in_the_dr_cluster_and_publishes_the_metric():
    run = run_stack(WITH_IMAGE)
    job = the_cronjob(run)
    assert job.provider_name == "k8s-dr" and job.inputs["spec"]["schedule"] == "23 * * * *"
    [container] = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.handler is run_dr_paths
    assert args.stack_outputs == "ssm://eu-central-1/idp-dr/sso/stack-outputs"
    assert (args.metric_namespace, args.metric_stack) == (DR_PATH_METRIC_NAMESPACE, "sso")


def test_its_role_only_reads_and_puts_the_one_metric():
    run = run_stack(WITH_IMAGE)
    policy = next(p for p in run.recorder.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-checks-policy"))
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    # With drills (on by default) it also reads the drill records and the DR bucket's creation date.
    assert {s["Action"] for s in statements.values()} == {
        "ssm:GetParameter",
        "rds:DescribeDBInstanceAutomatedBackups",
        "rds:DescribeDBInstances",
        "kms:DescribeKey",
        "cloudwatch:PutMetricData",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:ListAllMyBuckets",
        "kms:Decrypt",
    }
    bucket = run.outputs["archive"]["drBucket"]
    assert statements["ReadTheDrillRecords"]["Resource"] == f"arn:aws:s3:::{bucket}/idp-dr/drills/*"
    assert statements["ListTheDrillRecords"]["Condition"] == {"StringLike": {"s3:prefix": ["idp-dr/drills/*"]}}
    account = run.outputs["database"]["drKmsKeyArn"].split(":")[4]
    assert statements["ReadTheReplicatedBackups"]["Resource"] == f"arn:aws:rds:eu-central-1:{account}:auto-backup:*"
    assert statements["ReadTheDrKeysState"]["Resource"] == f"arn:aws:kms:eu-central-1:{account}:key/*"
    # The serving primary and the DR replica by identifier in their regions, and the topology record: what serves
    # after a recover, a failover or a failback (the protection checks).
    assert statements["ReadThePrimaryAndTheDrReplica"]["Resource"] == [
        f"arn:aws:rds:eu-west-1:{account}:db:*",
        f"arn:aws:rds:eu-central-1:{account}:db:*",
    ]
    assert statements["ReadTheTopologyRecord"]["Resource"] == f"arn:aws:s3:::{bucket}/idp-dr/runbook/topology/*"
    assert statements["PublishTheMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": DR_PATH_METRIC_NAMESPACE}
    }
    assert policy.region == "eu-central-1"


def test_the_alarm_fires_above_the_rpo_target_or_when_the_check_stops_reporting():
    run = run_stack(WITH_IMAGE)
    alarm = run.recorder.by_name("sso-dr-site-replicated-backups-age")
    assert alarm.region == "eu-central-1"
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == (
        DR_PATH_METRIC_NAMESPACE,
        REPLICATED_BACKUP_AGE_METRIC,
    )
    assert alarm.inputs["threshold"] == 300 and alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"
    assert alarm.inputs["treatMissingData"] == "breaching"
    assert alarm.inputs["dimensions"] == {"Stack": "sso"}
    assert alarm.inputs["alarmActions"] == [run.recorder.by_name("sso-alarms-dr").outputs["arn"]]


def test_a_protection_gap_alarms_in_the_dr_region_and_when_the_check_stops_reporting():
    run = run_stack(WITH_IMAGE)
    alarm = run.recorder.by_name("sso-dr-site-protection-gaps")
    assert alarm.region == "eu-central-1"
    assert (alarm.inputs["metricName"], alarm.inputs["threshold"]) == (DR_PROTECTION_GAPS_METRIC, 0)
    assert alarm.inputs["treatMissingData"] == "breaching"
    assert alarm.inputs["alarmActions"] == [run.recorder.by_name("sso-alarms-dr").outputs["arn"]]


def test_a_dr_key_scheduled_for_deletion_alarms_and_self_managed_stacks_get_only_that_alarm():
    run = run_stack(WITH_IMAGE)
    keys = run.recorder.by_name("sso-dr-site-dr-keys-not-enabled")
    assert keys.region == "eu-central-1" and keys.inputs["threshold"] == 0
    assert (keys.inputs["metricName"], keys.inputs["treatMissingData"]) == (DR_KEYS_METRIC, "breaching")
    self_managed = run_stack(
        {
            **WITH_IMAGE,
            "idp-dr:database": {
                "mode": "self-managed",
                "selfManagedPrimaryHost": "pg.primary.internal",
                "selfManagedDrHost": "pg.dr.internal",
                "tls": {"caConfigMap": "pg-ca"},
            },
        }
    )
    names = {r.name for r in self_managed.recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert "sso-dr-site-dr-keys-not-enabled" in names and "sso-dr-site-replicated-backups-age" not in names


SELF_MANAGED = {
    **WITH_IMAGE,
    "idp-dr:database": {
        "mode": "self-managed",
        "selfManagedPrimaryHost": "pg.primary.internal",
        "selfManagedDrHost": "pg.dr.internal",
        "tls": {"caConfigMap": "pg-ca"},
    },
}


def test_self_managed_the_job_checks_wal_archiving_with_the_idps_tls_and_role_and_alarms_on_it():
    run = run_stack(SELF_MANAGED)
    [job] = [
        j
        for j in run.recorder.of_type("kubernetes:batch/v1:CronJob")
        if j.inputs["metadata"]["name"] == "idp-dr-checks"
    ]
    pod = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--wal-archiver" in args
    assert args[args.index("--db-sslmode") + 1] == "verify-full"
    assert args[args.index("--db-sslrootcert") + 1].startswith("/")
    [volume] = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "pg-ca"]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert args[args.index("--db-sslrootcert") + 1].startswith(mount["mountPath"])
    policy = next(p for p in run.recorder.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-checks-policy"))
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ReadTheIdpsDatabaseRole"]["Resource"].startswith("arn:aws:secretsmanager:eu-central-1:")
    assert statements["DecryptTheIdpsDatabaseRole"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com"}
    }
    alarm = run.recorder.by_name("sso-dr-site-wal-archiving-failing")
    assert (alarm.inputs["metricName"], alarm.inputs["threshold"], alarm.inputs["treatMissingData"]) == (
        "WalArchivingFailing", 0, "breaching",
    )  # fmt: skip
    assert alarm.region == "eu-central-1"


def test_an_rds_stacks_job_does_not_check_wal_archiving():
    run = run_stack(WITH_IMAGE)
    [job] = [
        j
        for j in run.recorder.of_type("kubernetes:batch/v1:CronJob")
        if j.inputs["metadata"]["name"] == "idp-dr-checks"
    ]
    assert (
        "--wal-archiver" not in job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert "sso-dr-site-wal-archiving-failing" not in [r.name for r in run.recorder.resources.values()]
