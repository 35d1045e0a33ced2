"""`python -m scripts plan`: the offline plan a reviewer reads, and its DR policy gate."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.offline import REPO_ROOT


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["plan", "--quiet", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def stack_file(tmp_path: Path, **config_changes) -> Path:
    document = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    for key, value in config_changes.items():
        full = f"idp-dr:{key}"
        if isinstance(value, dict):
            document["config"][full] = {**document["config"].get(full, {}), **value}
        else:
            document["config"][full] = value
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_plan_prints_the_topology_per_region_and_cluster():
    code, out, err = run_cli("--stack", "prod")
    assert code == ExitCode.OK, err
    for heading in (
        "== aws: eu-west-1 (primary) ==",
        "== aws: eu-central-1 (DR) ==",
        "== aws: us-east-1 (Route 53 metrics) ==",
        "== kubernetes: primary cluster ==",
        "== kubernetes: DR cluster ==",
        "== DR posture ==",
    ):
        assert heading in out
    assert (
        "InstanceAutomatedBackupsReplication sso-database-backup-replication: retention 14 d, KMS eu-central-1" in out
    )
    assert "detection      10 s x 3 checks = 30 s; failover records TTL 60 s" in out
    assert "pass    rto.budget" in out


def test_the_posture_lists_every_alarm_of_the_dr_paths_with_its_threshold_and_topic_region():
    code, out, err = run_cli("--stack", "prod", "--json")
    assert code == ExitCode.OK, err
    alarms = json.loads(out)["result"]["posture"]["alarms"]
    for line in (
        "sso-archive-buckets-replication-failed: AWS/S3 OperationsFailedReplication > 0 -> eu-west-1",
        "sso-archive-buckets-replication-latency: AWS/S3 ReplicationLatency > 900 -> eu-west-1",
        "sso-database-dr-replica-lag: AWS/RDS ReplicaLag > 300 -> eu-central-1",
        "sso-primary-site-backup-freshness: IdpDr/Backups VerifiedDumps < 1 -> eu-west-1",
    ):
        assert line in alarms
    assert not [a for a in alarms if a.endswith("no topic")]


def test_plan_json_carries_resources_posture_and_outputs():
    code, out, _ = run_cli("--stack", "prod", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True
    assert doc["result"]["resource_count"] == sum(len(v) for v in doc["result"]["groups"].values())
    assert doc["result"]["posture"]["standby_mode"] == "pilot-light"
    assert doc["result"]["posture"]["detection_s"] == 30
    assert doc["result"]["outputs"]["database"]["primaryInstanceId"] == "sso-db"
    assert {c["name"] for c in doc["checks"]} >= {
        "rds.deletion-protection",
        "rds.cross-region-backups",
        "s3.replication-rtc",
        "dns.failover-pair",
        "standby.same-image",
    }


def test_plan_fails_on_a_dr_policy_violation(tmp_path):
    path = stack_file(tmp_path, database={"deletionProtection": False})
    code, out, _ = run_cli("--stack-file", str(path))
    assert code == ExitCode.CHECK_FAILED
    assert (
        "FAIL    rds.deletion-protection     deletion protection is off: one API call deletes the production "
        "database" in out
    )


def test_plan_flags_an_rto_target_tighter_than_the_recovery_path(tmp_path):
    path = stack_file(tmp_path, database={"drReadReplica": False}, targets={"rtoSeconds": 900})
    code, out, _ = run_cli("--stack-file", str(path))
    assert code == ExitCode.CHECK_FAILED
    assert (
        "FAIL    rto.budget                  detection + DNS + database failover estimate = 2010 s EXCEEDS the "
        "RTO target of 900 s" in out
    )


def test_plan_refuses_bad_config_with_every_problem_and_exit_2(tmp_path):
    path = stack_file(tmp_path, database={"backupRetentionDays": 40}, dns={"ttl": 300})
    code, _out, err = run_cli("--stack-file", str(path))
    assert code == ExitCode.BAD_INPUT
    assert err.splitlines()[:3] == [
        "error: Pulumi.test.yaml: 2 refused setting(s):",
        "invalid idp-dr:database.backupRetentionDays 40: an integer number of days from 1 to 35 (RDS keeps "
        "point-in-time backups for at most 35 days; 0 would disable them)",
        "invalid idp-dr:dns.ttl 300: an integer from 5 to 60 seconds (failover records must expire within a minute "
        "so clients follow a failover)",
    ]


def test_plan_names_the_missing_stack():
    code, _, err = run_cli("--stack", "staging")
    assert code == ExitCode.BAD_INPUT
    assert err.startswith(
        f"error: invalid --stack 'staging': a stack with a config file "
        f"({REPO_ROOT / 'Pulumi.staging.yaml'} does not exist)\nhint: stack files here: "
        "Pulumi.prod.yaml"
    )


def test_plan_never_prints_secret_values(tmp_path):
    code, out, _ = run_cli("--stack", "prod", "--json")
    assert "offline-plan-placeholder-secret" not in out
    assert code == 0


def test_the_plan_shows_how_each_image_is_pinned():
    from scripts.plan.summaries import settings_line
    from tests.unit.conftest import run_stack

    digest = "quay.io/keycloak/keycloak@sha256:" + "a" * 64
    for image, pin in ((digest, "pinned by digest"), ("quay.io/keycloak/keycloak:26.4.5", "pinned by tag")):
        run = run_stack({"idp-dr:idp": {"image": image, "version": "26.4.5"}})
        lines = [settings_line(d) for d in run.recorder.of_type("kubernetes:apps/v1:Deployment")]
        assert lines and all(f"{image}, {pin}" in line for line in lines), lines


def test_the_posture_says_what_survives_stolen_production_credentials(tmp_path):
    code, out, err = run_cli("--stack", "prod")
    assert code == ExitCode.OK, err
    assert ("last copy      guarded keys: only arn:aws:iam::123456789012:role/idp-dr-break-glass may destroy the DR "
            "keys or unlock the DR bucket") in out  # fmt: skip
    vault = {"accountId": "210987654321", "region": "eu-west-1", "roleArn": "arn:aws:iam::210987654321:role/v"}
    code, out, err = run_cli("--stack-file", str(stack_file(tmp_path, vault=vault)), "--json")
    assert code == ExitCode.OK, err
    doc = json.loads(out)
    assert doc["result"]["posture"]["last_copy"]["posture"] == "vault"
    assert any("account 210987654321" in line for line in doc["result"]["posture"]["replication"])


def test_a_stack_with_neither_posture_is_warned_not_failed(tmp_path):
    code, out, err = run_cli("--stack-file", str(stack_file(tmp_path, protection={"breakGlassRoleArn": None})))
    assert code == ExitCode.OK, err
    assert "last copy      none: every copy is in the production account" in out
    assert "warn    protection.last-copy" in out
