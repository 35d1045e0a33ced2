"""The drill's namespace, identity, CronJob and alarms (runbook.drill), and its IAM role evaluated, not read."""

from __future__ import annotations

import json

import pytest

from contract.drills import DRILL_METRIC_NAMESPACE
from tests.iam_eval import allowed, decide
from tests.unit.conftest import run_stack

WITH_IMAGE = {"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}}
CRONJOB = "kubernetes:batch/v1:CronJob"
DR = "eu-central-1"


@pytest.fixture(scope="module")
def run():
    return run_stack(WITH_IMAGE)


@pytest.fixture(scope="module")
def policy(run):
    return json.loads(run.recorder.by_name("sso-dr-site-drill-policy").inputs["policy"])


@pytest.fixture(scope="module")
def arns(run):
    db = run.outputs["database"]
    account = db["drKmsKeyArn"].split(":")[4]
    return {
        "account": account,
        "rds": f"arn:aws:rds:{DR}:{account}",
        "ec2": f"arn:aws:ec2:{DR}:{account}",
        "backups": db["replicatedBackupsArn"],
        "bucket": run.outputs["archive"]["drBucket"],
    }


DRILL_TAG = {"aws:RequestTag/idp-dr:restore-kind": "drill"}
TAGGED_DRILL = {"aws:ResourceTag/idp-dr:restore-kind": "drill"}


def _restore_resources(arns, target):
    r = arns["rds"]
    return [f"{r}:db:{target}", arns["backups"], f"{r}:subgrp:idp-db", f"{r}:pg:idp-pg", f"{r}:og:default-pg"]


def test_it_may_restore_the_replicated_backups_into_a_drill_instance_tagged_as_one(policy, arns):
    resources = _restore_resources(arns, "idp-dr-drill-20261201-051000")
    assert allowed(policy, "rds:RestoreDBInstanceToPointInTime", resources, DRILL_TAG)
    assert decide(policy, "rds:AddTagsToResource", resources[0], DRILL_TAG) == "allow"


@pytest.mark.parametrize(
    ("target", "context"),
    [
        ("idp-dr-drill-20261201-051000", {}),  # no drill tag on the request
        ("idp-dr-drill-20261201-051000", {"aws:RequestTag/idp-dr:restore-kind": "restore"}),
        ("sso-dr-restore", DRILL_TAG),  # the failover's name
        ("sso-db", DRILL_TAG),  # production's name
    ],
)
def test_it_may_not_restore_into_anything_else(policy, arns, target, context):
    assert not allowed(policy, "rds:RestoreDBInstanceToPointInTime", _restore_resources(arns, target), context)


@pytest.mark.parametrize("action", ["rds:DeleteDBInstance"])
def test_it_may_change_and_delete_only_drill_named_drill_tagged_instances(policy, arns, action):
    r = arns["rds"]
    assert decide(policy, action, f"{r}:db:idp-dr-drill-20261201-051000", TAGGED_DRILL) == "allow"
    assert decide(policy, action, f"{r}:db:idp-dr-drill-20261201-051000", {}) == "implicit-deny"
    for production in ("sso-db", "sso-dr-replica", "sso-dr-restore"):
        assert decide(policy, action, f"{r}:db:{production}", TAGGED_DRILL) == "implicit-deny", production
        assert decide(policy, action, f"{r}:db:{production}", {}) == "implicit-deny", production


def test_it_may_modify_no_instance_at_all_not_even_a_drills(policy, arns):
    """The drill never calls ModifyDBInstance (it restores without deletion protection): the role has no such grant."""
    r = arns["rds"]
    for name in ("idp-dr-drill-20261201-051000", "sso-db", "sso-dr-replica"):
        assert decide(policy, "rds:ModifyDBInstance", f"{r}:db:{name}", TAGGED_DRILL) == "implicit-deny", name


@pytest.mark.parametrize(
    "action", ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:DeleteSecurityGroup"]
)
def test_it_may_change_only_security_groups_tagged_as_drills(policy, arns, action):
    group = f"{arns['ec2']}:security-group/sg-0123456789abcdef0"
    assert decide(policy, action, group, TAGGED_DRILL) == "allow"
    assert decide(policy, action, group, {}) == "implicit-deny"  # the database's or the cluster's groups


def test_it_creates_security_groups_only_tagged_as_drills(policy, arns):
    created = [f"{arns['ec2']}:security-group/*", f"{arns['ec2']}:vpc/vpc-0abc"]
    assert allowed(policy, "ec2:CreateSecurityGroup", created, DRILL_TAG)
    assert not allowed(policy, "ec2:CreateSecurityGroup", created, {})
    assert decide(policy, "ec2:CreateTags", created[0], {"ec2:CreateAction": "CreateSecurityGroup"}) == "allow"
    assert decide(policy, "ec2:CreateTags", created[0], {"ec2:CreateAction": "CreateTags"}) == "implicit-deny"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1"),
        ("route53:UpdateHealthCheck", "arn:aws:route53:::healthcheck/h1"),
        ("secretsmanager:PutSecretValue", "arn:aws:secretsmanager:eu-central-1:{account}:secret:idp-dr/sso/dr-db"),
        ("rds:PromoteReadReplica", "{rds}:db:sso-dr-replica"),
        ("rds:StopDBInstanceAutomatedBackupsReplication", "{rds}:db:sso-db"),
        ("rds:DeleteDBInstanceAutomatedBackup", "{backups}"),
        ("kms:ScheduleKeyDeletion", "arn:aws:kms:eu-central-1:{account}:key/k"),
        ("s3:DeleteObject", "arn:aws:s3:::{bucket}/pg/sso-db/wals/0001"),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/pg/sso-db/wals/0001"),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/idp-dr/baselines/keycloak-company/x.json"),
        ("ssm:PutParameter", "arn:aws:ssm:eu-central-1:{account}:parameter/idp-dr/sso/stack-outputs"),
        ("iam:PassRole", "arn:aws:iam::{account}:role/anything"),
    ],
)
def test_it_can_touch_nothing_in_production(policy, arns, action, resource):
    assert decide(policy, action, resource.format(**arns), {}) == "implicit-deny"


def test_it_writes_only_drill_records_and_reads_baselines(policy, arns):
    bucket = f"arn:aws:s3:::{arns['bucket']}"
    assert decide(policy, "s3:PutObject", f"{bucket}/idp-dr/drills/20261201T051000Z.json") == "allow"
    assert decide(policy, "s3:GetObject", f"{bucket}/idp-dr/baselines/keycloak-company/x.json") == "allow"
    assert decide(policy, "s3:GetObject", f"{bucket}/dumps/daily/x") == "implicit-deny"
    assert decide(policy, "s3:ListBucket", bucket, {"s3:prefix": "idp-dr/baselines/"}) == "allow"
    assert decide(policy, "s3:ListBucket", bucket, {"s3:prefix": "dumps/"}) == "implicit-deny"


def test_it_puts_only_the_drill_metrics(policy):
    assert decide(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": DRILL_METRIC_NAMESPACE}) == "allow"
    assert decide(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/RDS"}) == "implicit-deny"


def test_its_role_is_assumed_only_by_the_drill_service_account_of_the_drill_namespace(run):
    trust = json.loads(run.recorder.by_name("sso-dr-site-drill-role").inputs["assumeRolePolicy"])
    [subject] = [v for s in trust["Statement"] for k, v in s["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subject == "system:serviceaccount:identity-drill:idp-dr-drill"


def test_the_cronjob_runs_the_drill_monthly_in_the_drill_namespace_of_the_dr_cluster(run):
    [job] = [j for j in run.recorder.of_type(CRONJOB) if j.inputs["metadata"]["name"] == "idp-dr-drill"]
    assert job.provider_name == "k8s-dr" and job.inputs["metadata"]["namespace"] == "identity-drill"
    assert job.inputs["spec"]["schedule"] == "7 5 1 * *"
    pod = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("idp-dr-drill", True)
    args = pod["containers"][0]["args"]
    assert args[:2] == ["drill", "--aws"]
    for flag, value in (("--kube-context", "in-cluster"), ("--reach", "service"), ("--baseline", "latest"),
                        ("--metric-namespace", DRILL_METRIC_NAMESPACE)):  # fmt: skip
        assert args[args.index(flag) + 1] == value
    assert job.inputs["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_the_drill_reads_in_the_standby_namespace_only_what_the_server_pods_read(run):
    role = run.recorder.by_name("sso-dr-site-drill-reads-standby")
    assert role.inputs["metadata"]["namespace"] == "identity"
    rules = {r["resources"][0]: r for r in role.inputs["rules"]}
    assert all(r["verbs"] == ["get"] for r in rules.values())
    assert rules["deployments"]["resourceNames"] == ["keycloak"]
    assert rules["secrets"]["resourceNames"] == ["keycloak-db"]
    assert rules["configmaps"]["resourceNames"] == ["idp-dr-rds-ca"]
    writes = run.recorder.by_name("sso-dr-site-drill-objects")
    assert writes.inputs["metadata"]["namespace"] == "identity-drill"


def test_the_drill_namespace_is_isolated(run):
    policies = [p for p in run.recorder.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.inputs["metadata"]["namespace"] == "identity-drill"]  # fmt: skip
    by_name = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in policies}
    assert by_name["idp-dr-drill-default-deny"] == {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []
    }  # fmt: skip
    assert by_name["idp-dr-drill-within"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    ingresses = [i for i in run.recorder.of_type("kubernetes:networking.k8s.io/v1:Ingress")
                 if i.inputs["metadata"]["namespace"] == "identity-drill"]  # fmt: skip
    assert ingresses == []


@pytest.mark.parametrize(
    ("alarm", "metric", "comparison", "threshold", "missing"),
    [
        ("sso-dr-site-drill-overdue", "DaysSinceSuccessfulDrill", "GreaterThanThreshold", 100, "breaching"),
        ("sso-dr-site-drill-failed", "LastDrillSucceeded", "LessThanThreshold", 1, "notBreaching"),
        ("sso-dr-site-drill-rto-above-target", "LastDrillRtoSeconds", "GreaterThanThreshold", 1800, "notBreaching"),
    ],
)
def test_each_drill_alarm_watches_its_metric_and_notifies_the_dr_topic(run, alarm, metric, comparison, threshold,
                                                                        missing):  # fmt: skip
    found = run.recorder.by_name(alarm)
    inputs = found.inputs
    assert found.region == DR
    assert (inputs["namespace"], inputs["metricName"], inputs["dimensions"]) == (
        "IdpDr/DrPaths",
        metric,
        {"Stack": "sso"},
    )
    assert (inputs["comparisonOperator"], inputs["threshold"], inputs["treatMissingData"]) == (
        comparison,
        threshold,
        missing,
    )
    topic = run.recorder.by_name("sso-alarms-dr").outputs["arn"]
    assert inputs["alarmActions"] == [topic] and inputs["okActions"] == [topic]


def test_without_an_image_the_namespace_and_role_exist_but_no_cronjob():
    run = run_stack()
    assert run.recorder.by_name("sso-dr-site-drill-role")
    assert "idp-dr-drill" not in [j.inputs["metadata"]["name"] for j in run.recorder.of_type(CRONJOB)]
    assert run.outputs["standby"]["drillNamespace"] == "identity-drill"


def test_turned_off_there_is_no_drill_namespace_role_or_alarm():
    run = run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0", "drill": {"enabled": False}}})
    names = [r.name for r in run.recorder.resources.values()]
    assert not [n for n in names if "-drill" in n]
    assert run.outputs["standby"]["drillNamespace"] is None


def test_plan_lists_the_drill_alarms_with_threshold_and_topic_region(run):
    from scripts.plan.posture import _alarms

    listed = [line for line in _alarms(run) if "-drill-" in line]
    assert listed == [
        "sso-dr-site-drill-failed: IdpDr/DrPaths LastDrillSucceeded < 1 -> eu-central-1",
        "sso-dr-site-drill-overdue: IdpDr/DrPaths DaysSinceSuccessfulDrill > 100 -> eu-central-1",
        "sso-dr-site-drill-rto-above-target: IdpDr/DrPaths LastDrillRtoSeconds > 1800 -> eu-central-1",
    ]
