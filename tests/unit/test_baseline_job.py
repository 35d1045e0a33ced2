"""The scheduled baseline: a weekly CronJob in the primary cluster that publishes to the DR bucket only."""

from __future__ import annotations

import json

from scripts.cli import build_parser
from scripts.verify.baseline_store import PREFIX
from scripts.verify.cmd_baseline import run as run_baseline
from tests.unit.conftest import run_stack

CRONJOB = "kubernetes:batch/v1:CronJob"
WITH_IMAGE = {"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}}


def the_cronjob(run):
    [job] = [j for j in run.recorder.of_type(CRONJOB) if j.inputs["metadata"]["name"] == "idp-dr-baseline"]
    return job


def container_of(job):
    [container] = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


def test_no_baseline_job_without_a_runbook_image_or_when_disabled(default_run):
    assert default_run.recorder.of_type(CRONJOB) == []
    off = run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0", "baseline": {"enabled": False}}})
    assert sorted(j.inputs["metadata"]["name"] for j in off.recorder.of_type(CRONJOB)) == [
        "idp-dr-backup-dump",
        "idp-dr-checks",
        "idp-dr-drill",
    ]


def test_it_runs_baseline_publish_weekly_on_the_primary_cluster_against_the_in_cluster_service():
    run = run_stack(WITH_IMAGE)
    job = the_cronjob(run)
    assert job.provider_name == "k8s-primary"
    assert job.inputs["spec"]["schedule"] == "41 3 * * 1" and job.inputs["spec"]["concurrencyPolicy"] == "Forbid"
    args = build_parser().parse_args(container_of(job)["args"])
    assert args.handler is run_baseline
    assert args.publish is True and args.realm == "company"
    assert args.base_url == "http://keycloak.identity.svc.cluster.local:8080"
    assert args.mgmt_url == "http://keycloak.identity.svc.cluster.local:9000"
    assert args.stack_outputs == "ssm://eu-central-1/idp-dr/sso/stack-outputs"
    assert (args.verifier_secret, args.secrets_region) == ("idp-dr/sso/verifier-client", "eu-west-1")


def test_its_role_publishes_only_baselines_and_reads_only_what_it_needs():
    run = run_stack(WITH_IMAGE)
    policy = next(
        p for p in run.recorder.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-baseline-policy")
    )
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    dr_bucket = run.outputs["archive"]["drBucket"]
    assert statements["PublishBaselines"]["Action"] == "s3:PutObject"
    assert statements["PublishBaselines"]["Resource"] == f"arn:aws:s3:::{dr_bucket}/{PREFIX}*"
    account = run.outputs["database"]["drKmsKeyArn"].split(":")[4]
    assert statements["ReadTheStackOutputs"]["Resource"] == (
        f"arn:aws:ssm:eu-central-1:{account}:parameter/idp-dr/sso/stack-outputs"
    )
    assert account.isdigit() and len(account) == 12
    assert statements["ReadTheVerifierClient"]["Action"] == "secretsmanager:GetSecretValue"
    for sid, service in (
        ("DecryptTheVerifierClient", "secretsmanager.eu-west-1"),
        ("UseTheDrBucketKeyThroughS3", "s3.eu-central-1"),
    ):
        assert statements[sid]["Condition"]["StringEquals"]["kms:ViaService"] == f"{service}.amazonaws.com"
    actions = [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [
        a for a in actions if a.split(":")[1].startswith(("Delete", "Update", "Modify", "Put")) and a != "s3:PutObject"
    ]


def test_the_default_deny_lets_exactly_this_job_reach_keycloak():
    run = run_stack(WITH_IMAGE)
    policies = {
        p.inputs["metadata"]["name"]: p.inputs["spec"]
        for p in run.recorder.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.provider_name == "k8s-primary"
    }
    job = {"app.kubernetes.io/component": "baseline"}
    egress = policies["idp-dr-baseline-to-server"]
    assert egress["podSelector"] == {"matchLabels": job} and egress["policyTypes"] == ["Egress"]
    ingress = policies["idp-dr-server-from-baseline"]
    assert ingress["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": job}}],
            "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 9000, "protocol": "TCP"}],
        }
    ]
    labels = the_cronjob(run).inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "baseline"
