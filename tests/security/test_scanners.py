"""checkov over the rendered manifests and every IAM/S3/KMS policy document, and parliament over the
policy documents, for the example stack and its variants. A finding fails the test unless
tests/security/allowlist.yaml accepts it with a reason; an entry that matches nothing fails too.

checkov lives in its own virtualenv (.venv-tools, requirements-tools.txt): it pins an older boto3
than the runbook uses. ``make test`` builds it; IDP_DR_CHECKOV names another checkov.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string

from scripts.offline import REPO_ROOT
from tests.conftest import need
from tests.security.render import VARIANTS, cloudformation, documents, manifests

ALLOWLIST = yaml.safe_load((Path(__file__).with_name("allowlist.yaml")).read_text())


def _checkov() -> str:
    path = os.environ.get("IDP_DR_CHECKOV") or str(REPO_ROOT / ".venv-tools" / "bin" / "checkov")
    need(Path(path).is_file(), f"checkov ({path}; make test installs it from requirements-tools.txt)")
    return path


def run_checkov(directory: Path, framework: str) -> list[dict[str, Any]]:
    """checkov's reports (one per framework), offline: nothing is downloaded or uploaded."""
    proc = subprocess.run(
        [
            _checkov(),
            "-d",
            str(directory),
            "--framework",
            framework,
            "-o",
            "json",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"},
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    document = json.loads(proc.stdout)
    return document if isinstance(document, list) else [document]


def _accepted(tool: str, finding: dict[str, str]) -> dict[str, Any] | None:
    for entry in ALLOWLIST[tool]:
        if tool == "checkov":
            if entry["check"] == finding["check"] and any(
                fnmatch.fnmatchcase(finding["where"], pattern) for pattern in entry["resources"]
            ):
                return entry
        elif (
            (entry["issue"], entry["kind"]) == (finding["issue"], finding["kind"])
            and ("detail" not in entry or entry["detail"] == finding["detail"])
            and any(fnmatch.fnmatchcase(finding["where"], pattern) for pattern in entry.get("resources", ["*"]))
        ):
            return entry
    return None


def _judge(tool: str, findings: list[dict[str, str]]) -> None:
    unaccepted = [f for f in findings if _accepted(tool, f) is None]
    used = {id(_accepted(tool, f)) for f in findings}
    stale = [e for e in ALLOWLIST[tool] if id(e) not in used]
    assert unaccepted == [], "findings without a reviewed acceptance in allowlist.yaml"
    assert stale == [], "allowlist entries that no longer match a finding: remove them"
    assert all(len(e["reason"]) > 40 for e in ALLOWLIST[tool]), "each acceptance carries its reason"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    for variant in VARIANTS:
        (root / "k8s").mkdir(exist_ok=True)
        (root / "k8s" / f"{variant}.yaml").write_text(yaml.safe_dump_all([m for _, _, m in manifests(variant)]))
        (root / "aws").mkdir(exist_ok=True)
        (root / "aws" / f"{variant}.json").write_text(json.dumps(cloudformation(variant)))
    return root


def _checkov_findings(reports: list[dict[str, Any]]) -> tuple[list[dict[str, str]], int]:
    findings, passed = [], 0
    for report in reports:
        passed += report["summary"]["passed"]
        assert report["summary"]["parsing_errors"] == 0
        for failed in report["results"].get("failed_checks", []):
            variant = Path(failed["file_path"]).stem
            findings.append({"check": failed["check_id"], "where": f"{variant}/{failed['resource']}"})
    return findings, passed


def test_checkov_finds_nothing_unreviewed_in_the_manifests(rendered):
    findings, passed = _checkov_findings(run_checkov(rendered / "k8s", "kubernetes"))
    assert passed > 500  # the checks ran over every object
    _judge("checkov", findings)


def test_checkov_finds_nothing_in_the_iam_s3_and_kms_policies(rendered):
    findings, passed = _checkov_findings(run_checkov(rendered / "aws", "cloudformation"))
    documents_scanned = sum(len(cloudformation(v)["Resources"]) for v in VARIANTS)
    assert documents_scanned > 50 and passed > documents_scanned
    assert findings == []  # no acceptance here: every policy document passes


def test_checkov_would_catch_a_wildcard_iam_policy(tmp_path):
    template = {
        "Resources": {
            "Everything": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "everything",
                    "Roles": ["role"],
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                },
            }
        }
    }
    (tmp_path / "bad.json").write_text(json.dumps(template))
    findings, _ = _checkov_findings(run_checkov(tmp_path, "cloudformation"))
    assert {f["check"] for f in findings} >= {
        "CKV_AWS_63"
    }  # "no IAM policy document allows * as a statement's actions"


def _parliament_findings() -> list[dict[str, str]]:
    findings = []
    for variant in VARIANTS:
        for doc in documents(variant):
            policy = analyze_policy_string(json.dumps(doc.policy), include_community_auditors=True)
            findings += [
                {"issue": f.issue, "kind": doc.kind, "detail": str(f.detail), "where": f"{variant}/{doc.resource}"}
                for f in policy.findings
            ]
    return findings


def test_parliament_finds_nothing_unreviewed_in_the_policies():
    findings = _parliament_findings()
    # An identity policy lints clean, or its finding is accepted for that one policy by name (never for all).
    unnamed = [f for f in findings if f["kind"] == "identity" and "resources" not in (_accepted("parliament", f) or {})]
    assert not unnamed, "identity policies must lint clean"
    _judge("parliament", findings)


def test_parliament_would_catch_a_misspelt_action():
    policy = analyze_policy_string(
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]}
        )
    )
    assert "UNKNOWN_ACTION" in {f.issue for f in policy.findings}
