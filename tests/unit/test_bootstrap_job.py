"""The database bootstrap Job: run by `pulumi up` in the primary cluster before the IdP starts."""

from __future__ import annotations

import json

from scripts.bootstrap.cli import run_db
from scripts.cli import build_parser
from tests.unit.conftest import deployments, run_stack

JOB = "kubernetes:batch/v1:Job"
IMAGE = "ghcr.io/example/idp-dr:0.1.0"
WITH_IMAGE = {"idp-dr:runbook": {"image": IMAGE}}


def jobs(run):
    return run.recorder.of_type(JOB)


def test_no_job_without_a_runbook_image(default_run):
    assert jobs(default_run) == []


def test_one_job_in_the_primary_cluster_only():
    run = run_stack(WITH_IMAGE)
    [job] = jobs(run)
    assert job.provider_name == "k8s-primary"
    assert job.inputs["metadata"]["namespace"] == "identity"
    assert job.inputs["metadata"]["name"].startswith("idp-dr-bootstrap-db-")


def test_the_jobs_arguments_parse_with_the_real_cli_and_name_the_stacks_database_and_secrets():
    run = run_stack(WITH_IMAGE)
    [job] = jobs(run)
    [container] = job.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    args = build_parser().parse_args(container["args"])
    assert args.handler is run_db
    database = run.outputs["database"]
    assert args.host == database["primaryEndpoint"]
    assert args.dbname == database["dbName"] and args.port == database["port"]
    assert args.master_secret == database["masterSecretArn"]
    assert args.app_credentials_secret == database["appCredentialsSecret"]
    assert args.region == "eu-west-1"


def test_the_idps_pods_wait_for_the_job():
    run = run_stack(WITH_IMAGE)
    [job] = jobs(run)
    primary = next(d for d in deployments(run, "keycloak") if d.provider_name == "k8s-primary")
    dr = next(d for d in deployments(run, "keycloak") if d.provider_name == "k8s-dr")
    assert job.urn in primary.dependencies
    assert job.urn not in dr.dependencies


def test_the_job_reads_only_its_two_secrets_through_its_own_role():
    run = run_stack(WITH_IMAGE)
    [account] = [
        s
        for s in run.recorder.of_type("kubernetes:core/v1:ServiceAccount")
        if s.inputs["metadata"]["name"] == "idp-dr-bootstrap"
    ]
    role_arn = account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    role = next(r for r in run.recorder.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn)
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"]["Federated"].endswith("oidc.eks.eu-west-1.amazonaws.com/id/AAA")  # the primary cluster
    assert "system:serviceaccount:identity:idp-dr-bootstrap" in json.dumps(trust["Condition"])
    policy = next(p for p in run.recorder.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id)
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    database = run.outputs["database"]
    read = statements["ReadTheTwoSecrets"]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert database["masterSecretArn"] in read["Resource"] and len(read["Resource"]) == 2
    assert statements["DecryptThemThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_the_job_is_hardened_for_the_restricted_pod_security_standard():
    [job] = jobs(run_stack(WITH_IMAGE))
    pod = job.inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_changed_input_renames_the_job_so_it_runs_again():
    first = jobs(run_stack(WITH_IMAGE))[0].inputs["metadata"]["name"]
    again = jobs(run_stack(WITH_IMAGE))[0].inputs["metadata"]["name"]
    newer = jobs(run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.1"}}))[0].inputs["metadata"]["name"]
    assert first == again != newer


def test_self_managed_mode_has_no_job():
    run = run_stack(
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
    assert jobs(run) == []
