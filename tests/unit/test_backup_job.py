"""The scheduled dump: a CronJob in the primary cluster that writes only dumps/, and its freshness alarm."""

from __future__ import annotations

import json

from contract.backups import METRIC_NAME, METRIC_NAMESPACE
from scripts.backup.cli import run_dump
from scripts.cli import build_parser
from tests.unit.conftest import run_stack

CRONJOB = "kubernetes:batch/v1:CronJob"
WITH_IMAGE = {"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}}


def the_cronjob(run):
    [job] = [j for j in run.recorder.of_type(CRONJOB) if j.inputs["metadata"]["name"] == "idp-dr-backup-dump"]
    return job


def test_no_cronjob_without_a_runbook_image_or_when_disabled(default_run):
    assert default_run.recorder.of_type(CRONJOB) == []
    off = run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0", "backup": {"enabled": False}}})
    assert sorted(j.inputs["metadata"]["name"] for j in off.recorder.of_type(CRONJOB)) == [
        "idp-dr-baseline",
        "idp-dr-checks",
        "idp-dr-drill",
    ]


def test_the_cronjob_runs_backup_dump_into_the_primary_archive(default_run):
    run = run_stack(WITH_IMAGE)
    job = the_cronjob(run)
    assert job.provider_name == "k8s-primary"
    [container] = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.handler is run_dump
    assert args.archive == f"s3://{run.outputs['archive']['primaryBucket']}"
    assert (args.metric_namespace, args.metric_stack) == (METRIC_NAMESPACE, "sso")
    assert args.db_dsn.startswith(
        "host=$(DB_HOST) port=$(DB_PORT) dbname=$(DB_NAME) user=$(DB_USER) sslmode=verify-full"
    )
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "keycloak-db", "key": "KC_DB_PASSWORD"}
    assert "password" not in " ".join(container["args"]).lower().replace("pgpassword", "")


def test_the_cronjob_never_overlaps_and_stops_at_its_deadline():
    spec = the_cronjob(run_stack(WITH_IMAGE)).inputs["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"] == "17 2 * * *"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 180 * 60
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 5
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]


def test_its_role_writes_only_under_dumps():
    run = run_stack(WITH_IMAGE)
    policy = next(p for p in run.recorder.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-backup-policy"))
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    write = statements["WriteAndReadBackDumps"]
    assert write["Resource"].endswith("/dumps/*")
    assert "s3:DeleteObject" not in write["Action"]
    actions = {a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "kms:GenerateDataKey", "kms:Encrypt",
                       "kms:Decrypt", "cloudwatch:PutMetricData"}  # fmt: skip
    assert statements["PublishFreshness"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}


def test_an_alarm_fires_when_no_verified_dump_arrived_for_26_hours():
    run = run_stack(WITH_IMAGE)
    alarm = run.recorder.by_name("sso-primary-site-backup-freshness")
    i = alarm.inputs
    assert (i["namespace"], i["metricName"], i["dimensions"]) == (METRIC_NAMESPACE, METRIC_NAME, {"Stack": "sso"})
    assert (i["period"], i["evaluationPeriods"], i["datapointsToAlarm"]) == (3600, 26, 26)
    assert (i["statistic"], i["threshold"], i["comparisonOperator"]) == ("Sum", 1, "LessThanThreshold")
    assert i["treatMissingData"] == "breaching"
    assert i["alarmActions"] == [run.recorder.by_name("sso-alarms-primary").outputs["arn"]]


def test_a_bad_schedule_is_refused_with_the_exact_message():
    import pulumi
    import pytest

    with pytest.raises(pulumi.RunError) as raised:
        run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0", "backup": {"schedule": "daily"}}})
    assert "invalid idp-dr:runbook.backup.schedule 'daily': a five-field cron schedule, e.g. '17 2 * * *' (UTC)" in str(
        raised.value
    )
