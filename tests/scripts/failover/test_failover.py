"""``failover``: the six runbook steps against moto (RDS, Route 53, Secrets Manager, KMS), the
in-memory Kubernetes fake and stand-in IdP sites served over real HTTP.

moto reports every Route 53 health check healthy; where a test needs an unhealthy primary, the
checkers' observations are injected in the shape GetHealthCheckStatus returns on AWS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.stub import Stubber

from tests.scripts.failover_world import (
    InterruptOnce,
    failover,
    health_path,
    make_kube,
    primary_down,
    run_failover,
)
from tests.scripts.shapes import instance
from tests.scripts.world import invoke


def test_failover_promotes_points_scales_validates_and_cuts_traffic(world, standby):
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "120")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("detect", "ok"),
        ("preflight", "ok"),
        ("database", "ok"),
        ("point-standby", "ok"),
        ("scale-standby", "ok"),
        ("validate", "ok"),
        ("cut-traffic", "ok"),
        ("reprotect", "skipped"),
    ]
    replica = world.client("rds", "eu-central-1").describe_db_instances(DBInstanceIdentifier="sso-dr-replica")[
        "DBInstances"
    ][0]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in replica
    host = replica["Endpoint"]["Address"]
    # 3. the DR endpoint secret, then the Kubernetes Secret via a forced ExternalSecret sync
    secret = world.client("secretsmanager", "eu-central-1").get_secret_value(
        SecretId=world.outputs["standby"]["drDbEndpointSecretArn"]
    )
    assert json.loads(secret["SecretString"]) == {"host": host, "port": 5432, "dbname": "keycloak"}
    assert standby.state["secrets"]["identity/keycloak-db"]["KC_DB_URL_HOST"] == host
    assert (
        "annotate",
        "identity",
        "externalsecrets.external-secrets.io",
        "keycloak-db-sync",
        "force-sync",
    ) in standby.calls
    # 4. scaled to the primary's replica count
    assert standby.state["deployments"]["identity/keycloak"]["replicas"] == 2
    # 6. sticky: the primary's readiness check now probes a path that cannot succeed
    assert health_path(world) == "/idp-dr/failed-over"
    assert world.recorder.mutating() == [
        "rds:PromoteReadReplica",
        "secretsmanager:PutSecretValue",
        "route53:UpdateHealthCheck",
        "rds:StartDBInstanceAutomatedBackupsReplication",
    ]
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["validate.dr.readiness"] == "pass"
    assert checks["validate.dr.issuer"] == "pass"
    assert checks["cut-traffic.route53"] == "pass"
    assert checks["rto"] == "pass"
    assert doc["result"]["database"]["host"] == host
    # no credentials in the output, though the command read the Kubernetes Secret
    password = standby.state["secrets"]["identity/keycloak-db"]["KC_DB_PASSWORD"]
    assert password not in result.stdout and password not in result.stderr


def test_timeline_and_postmortem_are_written(world, standby, tmp_path):
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(tmp_path / "incident"))
    assert result.code == 0, result.stderr
    timeline = json.loads((tmp_path / "incident" / "timeline.json").read_text())
    assert list(timeline["steps"]) == [
        "detect",
        "preflight",
        "database",
        "point-standby",
        "scale-standby",
        "validate",
        "cut-traffic",
        "reprotect",
    ]
    steps = list(timeline["steps"].values())
    assert all(s["first_started_at"] and s["ended_at"] for s in steps)
    assert [s["status"] for s in steps][:-1] == ["ok"] * 7
    assert steps[-1]["status"] == "deferred"  # the primary region is down: a later run retries it
    incident = timeline["pinned"]["incident"]
    assert incident["declared_at"] and incident["completed_at"]
    postmortem = (tmp_path / "incident" / "postmortem.md").read_text()
    assert postmortem.startswith(f"# Post-mortem: failover of sso.example.com ({incident['incident_id']})")
    assert "Measured RTO (declared → traffic cut): **" in postmortem
    assert "| cut-traffic | " in postmortem and "## Root cause" in postmortem


def test_a_healthy_primary_is_refused_without_force(world, standby):
    result = run_failover(world, standby, "--yes")
    assert result.code == 3
    assert result.error_line == (
        "refusing to fail over a primary that looks healthy: Route 53 reports the primary "
        "healthy (calculated: 2/2 children healthy, threshold 2)"
    )
    assert result.hint_line.startswith("if users still cannot log in")
    assert world.recorder.mutating() == []
    assert [c for c in standby.calls if c[0] != "get_secret_data"] == []


def test_a_primary_that_answers_the_direct_probe_is_refused(world, standby, sites):
    primary_down(world)
    sites[0].set_ready(True)
    result = run_failover(world, standby, "--yes")
    assert result.code == 3
    assert result.error_line.startswith(
        "refusing to fail over a primary that looks healthy: the direct probe "
        f"succeeds (http://{sites[0].hostport}/health/ready: HTTP 200 in "
    )
    assert world.recorder.mutating() == []


def test_force_overrides_a_healthy_primary_and_is_recorded(world, standby, tmp_path):
    result = run_failover(world, standby, "--yes", "--force", "--reason", "users cannot log in", "--dns-wait", "0")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert any("failover FORCED" in n and "users cannot log in" in n for n in doc["notes"])
    timeline = json.loads(Path(doc["result"]["timeline"]).read_text())
    incident = timeline["pinned"]["incident"]
    assert incident["forced"] is True and incident["reason"] == "users cannot log in"
    assert timeline["runs"][-1]["forced"] is True


def test_without_yes_nothing_changes_in_a_non_interactive_run(world, standby, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    primary_down(world)
    result = run_failover(world, standby)
    assert result.code == 3
    assert result.error_line == "refusing to change anything without --yes (stdin is not a terminal to confirm on)"
    assert result.hint_line == (
        "re-run with --yes to run: database, point-standby, scale-standby, validate, cut-traffic, reprotect"
    )
    assert world.recorder.mutating() == []


def test_a_declined_confirmation_changes_nothing(world, standby):
    primary_down(world)
    result = run_failover(world, standby, confirm=lambda record: False)
    assert result.code == 3
    assert result.error_line == "failover not confirmed; nothing was changed"
    assert world.recorder.mutating() == []


def test_dry_run_detects_and_prechecks_only(world, standby):
    primary_down(world)
    result = run_failover(world, standby, "--dry-run")
    assert result.code == 0, result.stderr
    assert result.json()["result"]["would_run"] == [
        "database",
        "point-standby",
        "scale-standby",
        "validate",
        "cut-traffic",
        "reprotect",
    ]
    assert world.recorder.mutating() == []
    assert not Path(".idp-dr").exists()


def test_an_interrupted_failover_resumes_at_the_interrupted_step(world):
    kube = make_kube(world, InterruptOnce)
    primary_down(world)
    first = run_failover(world, kube, "--yes", "--dns-wait", "0")
    assert first.code == 130
    state = world.incident_state()
    assert {k: v["status"] for k, v in state["steps"].items()} == {
        "detect": "ok",
        "preflight": "ok",
        "database": "ok",
        "point-standby": "ok",
        "scale-standby": "interrupted",
    }

    second = run_failover(world, kube, "--yes", "--dns-wait", "0")
    assert second.code == 0, second.stderr
    assert [(s["name"], s["status"]) for s in second.json()["steps"]] == [
        ("detect", "skipped"),
        ("preflight", "ok"),
        ("database", "skipped"),
        ("point-standby", "skipped"),
        ("scale-standby", "resumed"),
        ("validate", "ok"),
        ("cut-traffic", "ok"),
        ("reprotect", "skipped"),
    ]
    assert world.recorder.operations.count("PromoteReadReplica") == 1
    timeline = json.loads(Path(second.json()["result"]["timeline"]).read_text())
    assert [r["result"] for r in timeline["runs"]] == ["interrupted", "completed"]
    assert timeline["steps"]["scale-standby"]["attempts"] == 2


def test_a_completed_failover_rerun_changes_nothing(world, standby):
    primary_down(world)
    assert run_failover(world, standby, "--yes", "--dns-wait", "0").code == 0
    world.recorder.calls.clear()
    again = run_failover(world, standby, "--yes", "--dns-wait", "0", "--no-reprotect")
    assert again.code == 0, again.stderr
    assert world.recorder.mutating() == []
    assert "this failover already completed at" in " ".join(again.json()["notes"])


def test_failed_validation_does_not_cut_traffic_and_a_rerun_resumes_there(world, standby, sites):
    primary_down(world)
    _, dr = sites
    dr._served_issuer = "https://dr-sso.example.com/realms/company"  # a standby with the wrong hostname
    first = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert first.code == 1
    assert first.error_line == (
        "validation failed, traffic was NOT cut: dr.issuer: issuer "
        "'https://dr-sso.example.com/realms/company', expected "
        "'https://sso.example.com/realms/company'"
    )
    assert health_path(world) == "/health/ready"

    dr._served_issuer = world.outputs["issuer"]
    second = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert second.code == 0, second.stderr
    statuses = dict((s["name"], s["status"]) for s in second.json()["steps"])
    assert statuses["validate"] == "resumed" and statuses["cut-traffic"] == "ok"
    assert health_path(world) == "/idp-dr/failed-over"


def test_route53_that_never_marks_the_primary_unhealthy_times_out_and_resumes(world, standby):
    result = run_failover(
        world, standby, "--yes", "--force", "--reason", "drill: Route 53 never fails over", "--dns-wait", "60"
    )
    assert result.code == 4
    assert result.error_line == (
        "Route 53 marking the primary unhealthy not done after 1m00s (timeout 1m00s); last "
        "state: Route 53: primary healthy (calculated: 2/2 children healthy, "
        "threshold 2)"
    )
    assert health_path(world) == "/idp-dr/failed-over"  # the sticky change itself was made
    again = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert again.code == 0, again.stderr
    assert world.recorder.operations.count("UpdateHealthCheck") == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"HealthThreshold": 1},
            "calculated check {calc} stays healthy with 1 of 2 children: failing {ready} alone would not fail it over",
        ),
        ({"Disabled": True}, "calculated check {calc} is Disabled (always healthy)"),
    ],
)
def test_health_checks_that_would_not_hold_sticky_failover_are_refused(world, standby, change, problem):
    dns = world.outputs["dns"]
    r53 = world.client("route53")
    children = r53.get_health_check(HealthCheckId=dns["primaryRecordHealthCheckId"])["HealthCheck"][
        "HealthCheckConfig"
    ]["ChildHealthChecks"]
    # (moto drops the children unless they are passed again)
    r53.update_health_check(HealthCheckId=dns["primaryRecordHealthCheckId"], ChildHealthChecks=children, **change)
    primary_down(world)
    result = run_failover(world, standby, "--yes")
    assert result.code == 3
    assert result.error_line == "sticky failover would not hold: " + problem.format(
        calc=dns["primaryRecordHealthCheckId"], ready=dns["primaryHealthCheckId"]
    )
    assert world.recorder.mutating() == []


def test_pulumi_secrets_mode_patches_the_kubernetes_secret(world, standby):
    outputs = dict(world.outputs)
    outputs["standby"] = {**outputs["standby"], "secretsMode": "pulumi", "externalSecretName": None}
    world.outputs_path.write_text(json.dumps(outputs))
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert result.code == 0, result.stderr
    assert "secretsmanager:PutSecretValue" not in world.recorder.mutating()
    assert ("patch_secret_data", "identity", "keycloak-db") in standby.calls
    host = standby.state["secrets"]["identity/keycloak-db"]["KC_DB_URL_HOST"]
    assert host.startswith("sso-dr-replica.")


def test_a_rerun_in_another_mode_is_refused(world, monkeypatch):
    primary_down(world)
    kube = make_kube(world, InterruptOnce)
    assert run_failover(world, kube, "--yes").code == 130  # declared in mode promote, interrupted
    result = run_failover(world, kube, "--mode", "restore", "--yes")
    assert result.code == 3
    assert result.error_line.startswith(
        "conflicting re-run: s3://example-sso-archive-euc1/idp-dr/runbook/sso.example.com/state.json holds a "
        "failover in mode promote started "
    )
    assert result.error_line.endswith(", not mode restore")


def test_reprotect_starts_backup_replication_into_the_old_primary_region(world, standby):
    """moto has no StartDBInstanceAutomatedBackupsReplication: the primary-region client is Stubbed."""
    primary_down(world)
    primary_aws = world.aws(max_attempts=2)
    old = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]
    replica_arn = world.outputs["database"]["drReplicaArn"]
    with Stubber(primary_aws.client("rds", "eu-west-1")) as rds:
        rds.add_response("describe_db_instances", {"DBInstances": [instance("sso-db", status="failed")]})
        rds.add_response("describe_db_instances", {"DBInstances": [instance("sso-db", KmsKeyId=old["KmsKeyId"])]})
        rds.add_response(
            "start_db_instance_automated_backups_replication",
            {"DBInstanceAutomatedBackup": {"DBInstanceArn": replica_arn, "Status": "pending"}},
            {
                "SourceDBInstanceArn": replica_arn,
                "KmsKeyId": old["KmsKeyId"],
                "BackupRetentionPeriod": 7,
                "SourceRegion": "eu-central-1",
            },
        )
        result = run_failover(world, standby, "--yes", "--dns-wait", "0", primary_aws=primary_aws)
    assert result.code == 0, result.stderr
    rds.assert_no_pending_responses()
    steps = {s["name"]: s for s in result.json()["steps"]}
    assert steps["reprotect"]["status"] == "ok"
    assert steps["reprotect"]["detail"]["replicating_to"] == "eu-west-1"
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["detect.primary-db"]["message"] == (
        "primary DB sso-db status failed (RDS API view; not a connection test)"
    )


def test_restore_mode_restores_replicated_backups_and_points_the_standby_at_them(world, standby, sites):
    """moto cannot restore from replicated backups: the DR-region RDS client is Stubbed (AWS-shaped)."""
    from tests.scripts.shapes import automated_backup, not_found

    primary_down(world)
    sites[1].set_ready(True)  # the stand-in DR site cannot see the Stubbed instance
    db = world.outputs["database"]
    arn = db["replicatedBackupsArn"]
    dr_vpc = world.client("ec2", "eu-central-1").describe_security_groups(GroupIds=db["drSecurityGroupIds"])[
        "SecurityGroups"
    ][0]["VpcId"]
    aws = world.aws()
    restored = instance(
        "sso-dr-restore",
        region="eu-central-1",
        KmsKeyId=db["drKmsKeyArn"],
        DBSubnetGroup={"DBSubnetGroupName": "idp-db", "VpcId": dr_vpc},
        VpcSecurityGroups=[{"VpcSecurityGroupId": db["drSecurityGroupIds"][0], "Status": "active"}],
        MasterUserSecret={
            "SecretArn": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!r",
            "SecretStatus": "active",
            "KmsKeyId": db["drKmsKeyArn"],
        },
        TagList=[{"Key": "idp-dr:restore-source", "Value": arn}],
    )

    def plan(stub):
        stub.add_response(
            "describe_db_instance_automated_backups",
            {
                "DBInstanceAutomatedBackups": [
                    automated_backup(arn=arn, region="eu-central-1", KmsKeyId=db["drKmsKeyArn"])
                ]
            },
        )
        stub.add_client_error("describe_db_instances", **not_found())
        stub.add_response(
            "describe_db_subnet_groups",
            {"DBSubnetGroups": [{"DBSubnetGroupName": "idp-db", "VpcId": dr_vpc}]},
        )
        stub.add_response(
            "describe_db_parameter_groups",
            {"DBParameterGroups": [{"DBParameterGroupName": "idp-postgres16"}]},
        )

    primary_rid = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0][
        "DbiResourceId"
    ]
    with Stubber(aws.client("rds", "eu-central-1")) as rds:
        # preflight resolves the serving primary's replicated backups by its DbiResourceId (read live)
        rds.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [automated_backup(arn=arn, region="eu-central-1", status="replicating",
                                                             KmsKeyId=db["drKmsKeyArn"], DbiResourceId=primary_rid)]},
            {"DbiResourceId": primary_rid},
        )  # fmt: skip
        plan(rds)  # preflight validates the restore before anything changes
        plan(rds)  # the database step validates again, then restores
        rds.add_response(
            "restore_db_instance_to_point_in_time",
            {"DBInstance": instance("sso-dr-restore", region="eu-central-1", status="creating")},
        )
        rds.add_response("describe_db_instances", {"DBInstances": [restored]})
        rds.add_response("describe_events", {"Events": []})
        result = invoke(
            failover(world, "--mode", "restore", "--yes", "--dns-wait", "0"),
            aws=aws,
            kube=standby,
            clock=world.clock,
        )
    assert result.code == 0, result.stderr
    rds.assert_no_pending_responses()
    doc = result.json()
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("detect", "ok"),
        ("preflight", "ok"),
        ("database", "ok"),
        ("database.validate", "ok"),
        ("database.restore-call", "ok"),
        ("database.wait-available", "ok"),
        ("point-standby", "ok"),
        ("scale-standby", "ok"),
        ("validate", "ok"),
        ("cut-traffic", "ok"),
        ("reprotect", "skipped"),
    ]
    [request] = world.recorder.params("RestoreDBInstanceToPointInTime")
    assert request["SourceDBInstanceAutomatedBackupsArn"] == arn
    assert request["UseLatestRestorableTime"] is True
    assert request["TargetDBInstanceIdentifier"] == "sso-dr-restore"
    assert request["MasterUserSecretKmsKeyId"] == db["drKmsKeyArn"]
    assert {"Key": "idp-dr-incident", "Value": doc["result"]["incident_id"]} in request["Tags"]
    host = restored["Endpoint"]["Address"]
    assert standby.state["secrets"]["identity/keycloak-db"]["KC_DB_URL_HOST"] == host
    assert doc["result"]["rpo"]["restored_to"] == "2026-11-23T10:10:00Z"


def test_restore_mode_without_usable_replicated_backups_is_refused_before_any_change(world, standby):
    """The stack's backups ARN answers nothing (Stubbed: moto has no replicated-backup ARNs)."""
    primary_down(world)
    aws = world.aws()
    with Stubber(aws.client("rds", "eu-central-1")) as rds:
        rds.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": []})  # the primary's
        rds.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": []})  # the stack's
        rds.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": []})  # the plan's
        result = invoke(failover(world, "--mode", "restore", "--yes"), aws=aws, kube=standby, clock=world.clock)
    assert result.code == 3
    arn = world.outputs["database"]["replicatedBackupsArn"]
    assert result.error_line == (
        f"cannot restore from the stack's replicated backups: invalid --from-replicated-backups "
        f"'{arn}': replicated automated backups that exist in eu-central-1"
    )
    assert world.recorder.mutating() == []
