"""The GitHub workflows users copy: valid against GitHub's workflow schema, and doing what they claim."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
import yaml

from scripts.offline import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def load(path):
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def github_workflow_schema() -> dict:
    # SchemaStore's schema, vendored by check-jsonschema: no network needed.
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "github-workflows.json").read_text())


def steps(document):
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_there_are_workflows_to_check():
    assert {p.name for p in WORKFLOWS} >= {"pulumi-preview.yml", "tests.yml", "drift.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_github_schema(path):
    jsonschema.validate(load(path), github_workflow_schema())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha_with_their_release_named(path):
    # A tag can be moved to other code; a commit cannot. The comment names the release it is.
    uses = [step["uses"] for step in steps(load(path)) if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_the_preview_runs_only_after_an_environment_approval_with_its_own_read_only_credentials():
    document = load(REPO_ROOT / ".github/workflows/pulumi-preview.yml")
    preview = document["jobs"]["preview"]
    assert preview["environment"] == "pulumi-preview"
    secrets = re.findall(r"secrets\.(\w+)", json.dumps(preview))
    assert set(secrets) == {"AWS_PREVIEW_ROLE_ARN", "KUBECONFIG_B64", "PULUMI_PREVIEW_ACCESS_TOKEN", "GITHUB_TOKEN"}
    # The offline DR gate needs no secret at all.
    assert "secrets." not in json.dumps(document["jobs"]["dr-policy"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_that_reads_a_secret_names_its_environment_and_only_it_may_mint_an_oidc_token(path):
    """The review found id-token and pull-requests write granted to a whole workflow (its ungated job ran the pull
    request's code with them) and drift's secrets used without an environment."""
    document = load(path)
    top = document.get("permissions", {})
    assert top in ({}, {"contents": "read"}) or path.name == "runbook-image.yml", top
    for name, job in document["jobs"].items():
        uses_secrets = "secrets." in json.dumps(job).replace("secrets.GITHUB_TOKEN", "")
        if uses_secrets:
            assert job.get("environment"), f"{path.name}: job {name} reads secrets without an environment"
        writes = {k for k, v in (job.get("permissions") or {}).items() if v == "write"}
        if "id-token" in writes:
            assert job.get("environment"), f"{path.name}: job {name} mints OIDC tokens without an environment"
        if not job.get("environment"):
            assert not writes, f"{path.name}: ungated job {name} may write {writes}"


def test_the_oidc_trust_policy_shown_restricts_sub_to_the_environment():
    text = (REPO_ROOT / "docs" / "reference" / "cli.md").read_text()
    assert '"token.actions.githubusercontent.com:sub": "repo:acme/sso-infra:environment:pulumi-preview"' in text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_are_never_echoed(path):
    for step in steps(load(path)):
        run = step.get("run", "")
        assert "secrets." not in run, f"{path.name}: pass secrets through env:, not inline in run:"


def test_pull_requests_get_a_pulumi_preview_comment_and_the_dr_gate():
    document = load(REPO_ROOT / ".github/workflows/pulumi-preview.yml")
    assert "pull_request" in document["on"]
    assert document["permissions"] == {}  # each job names its own
    assert document["jobs"]["preview"]["permissions"] == {
        "contents": "read", "id-token": "write", "pull-requests": "write"
    }  # fmt: skip
    assert document["jobs"]["dr-policy"]["permissions"] == {"contents": "read"}
    preview = [s for s in steps(document) if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(preview) == 1
    assert preview[0]["with"]["command"] == "preview"
    assert preview[0]["with"]["comment-on-pr"] is True
    assert preview[0]["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_PREVIEW_ACCESS_TOKEN }}"
    gate = [s for s in steps(document) if "python -m scripts plan" in s.get("run", "")]
    assert gate and document["jobs"]["preview"]["needs"] == "dr-policy"


def test_the_preview_enforces_the_policy_pack_plan_runs_offline():
    document = load(REPO_ROOT / ".github/workflows/pulumi-preview.yml")
    [preview] = [s for s in steps(document) if s.get("uses", "").startswith("pulumi/actions@")]
    pack = REPO_ROOT / preview["with"]["policyPacks"]
    assert yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]["name"] == "python"
    assert (pack / "__main__.py").read_text().count("from rules import RULES") == 1
    pins = (pack / "requirements.txt").read_text()
    dev = (REPO_ROOT / "requirements-dev.txt").read_text()
    for pin in re.findall(r"^(pulumi-policy==\S+)$", pins, re.M):
        assert pin in dev  # the tests run the pack with the SDK version users get


def test_drift_check_fails_on_any_change():
    document = load(REPO_ROOT / ".github/workflows/drift.yml")
    [preview] = [s for s in steps(document) if s.get("uses", "").startswith("pulumi/actions@")]
    assert preview["with"]["expect-no-changes"] is True
    assert "schedule" in document["on"]


def test_the_nightly_drift_job_audits_the_realm_configuration_against_the_committed_reference():
    document = load(REPO_ROOT / ".github/workflows/drift.yml")
    [audit] = [s for s in document["jobs"]["realm-config"]["steps"] if "audit realm-config" in s.get("run", "")]
    command = " ".join(audit["run"].split())
    assert '--against "realm-config/$REALM.json"' in command
    assert '--client-secret-file "$RUNNER_TEMP/audit.secret"' in command  # a file, never argv
    assert "secrets.KEYCLOAK_AUDIT_CLIENT_SECRET" in audit["env"]["AUDIT_CLIENT_SECRET"]
    from scripts.cli import build_parser

    line = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", command.split("python -m scripts ", 1)[1])
    argv = line.replace('"', "").replace("\\", "").split()
    assert build_parser().parse_args(argv).handler.__module__ == "scripts.audit.cli"


def test_project_tests_run_exactly_the_ci_entry_point():
    document = load(REPO_ROOT / ".github/workflows/tests.yml")
    assert any(s.get("run") == ".ci/run" for s in steps(document))
    assert (REPO_ROOT / ".ci/run").read_text().strip().endswith("exec make test")


def test_the_schema_check_rejects_a_broken_workflow():
    # Guards the check above against passing vacuously (e.g. an empty or permissive schema).
    broken = load(REPO_ROOT / ".github/workflows/tests.yml")
    broken["jobs"]["test"]["runs-on"] = 5
    broken["jobs"]["test"]["steps"][0] = {"uses": "actions/checkout@v4", "wtih": {"fetch-depth": 0}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, github_workflow_schema())


def test_the_runbook_image_is_built_checked_and_pushed_with_short_lived_credentials():
    document = load(REPO_ROOT / ".github/workflows/runbook-image.yml")
    job = document["jobs"]["image"]
    assert job["environment"] == "runbook-image" and document["permissions"]["id-token"] == "write"
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert 'docker build --pull --build-arg "PG_MAJOR=' in runs and "docker push" in runs
    assert 'test "$(docker run --rm --entrypoint id' in runs  # the Job's UID, checked before the push
    creds = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert creds["with"]["role-to-assume"] == "${{ secrets.ECR_PUSH_ROLE_ARN }}"


def test_the_runbook_image_is_pushed_only_for_a_release_tag_into_an_immutable_repository():
    document = load(REPO_ROOT / ".github/workflows/runbook-image.yml")
    assert document["on"]["push"] == {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}
    job = document["jobs"]["image"]
    assert job["if"] == "startsWith(github.ref, 'refs/tags/v')"  # workflow_dispatch on a branch pushes nothing
    push = next(s for s in job["steps"] if s.get("name") == "Push")["run"]
    assert push.index("imageTagMutability") < push.index("docker push")
    assert 'if [ "$mutability" != IMMUTABLE ]; then' in push
