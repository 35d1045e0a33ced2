"""``drill --aws`` against moto (RDS, EC2, S3, Secrets Manager, CloudWatch), the fake DR cluster and a fake
Keycloak for the drill IdP.

moto has no replicated automated backups: :func:`scripts.sandbox.motofix.apply_replicated_backups` answers
``DescribeDBInstanceAutomatedBackups`` and the restore from them as AWS does (SIMULATED; no data moves), and
is removed after each test. Everything else is moto's own behaviour.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.k8s.adapter import FakeKube
from scripts.sandbox import motofix
from scripts.verify import BaselineParams, Target, capture_baseline
from tests.fakes.keycloak import generate_keys
from tests.scripts.drill_world import DRILL_NS, DRILL_STEPS, VERIFIER
from tests.scripts.world import invoke


def _dr_instances(world) -> list[str]:
    rds = world.client("rds", "eu-central-1")
    return sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"])


def _drill_groups(world) -> list[str]:
    groups = world.client("ec2", "eu-central-1").describe_security_groups()["SecurityGroups"]
    return [g["GroupId"] for g in groups if g["GroupName"].startswith("idp-dr-drill-")]


def _drill_objects(kube: FakeKube) -> list[str]:
    return sorted(k for k in kube.state["objects"] if f"/{DRILL_NS}/" in k)


def _succeeded_metric(world) -> list[float]:
    cw = world.client("cloudwatch", "eu-central-1")
    stats = cw.get_metric_statistics(
        Namespace="IdpDr/Drills", MetricName="DrillSucceeded", Dimensions=[{"Name": "Stack", "Value": "prod"}],
        StartTime=datetime(2020, 1, 1, tzinfo=UTC), EndTime=datetime(2100, 1, 1, tzinfo=UTC), Period=86400 * 365,
        Statistics=["Minimum", "Maximum"],
    )["Datapoints"]  # fmt: skip
    return sorted(v for d in stats for v in (d["Minimum"], d["Maximum"]))


# -- the happy path -------------------------------------------------------------------------------------
def test_a_drill_restores_starts_verifies_measures_publishes_and_removes_everything(world, cluster, drill, tmp_path):
    before = _dr_instances(world)
    result = drill()
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [(s["name"], s["status"]) for s in doc["steps"] if "." not in s["name"]] == [
        (name, "ok") for name in DRILL_STEPS
    ]
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    for name in ("verify.readiness", "verify.issuer", "verify.jwks.baseline_overlap", "verify.token.signature",
                 "verify.token.issuer", "rto", "rpo", "baseline.fresh"):  # fmt: skip
        assert checks[name] == "pass", (name, checks)
    [request] = world.recorder.params("RestoreDBInstanceToPointInTime")
    assert request["SourceDBInstanceAutomatedBackupsArn"] == world.outputs["database"]["replicatedBackupsArn"]
    assert request["TargetDBInstanceIdentifier"] == doc["result"]["drill"]
    assert request["TargetDBInstanceIdentifier"].startswith("idp-dr-drill-")
    assert request["UseLatestRestorableTime"] is True
    assert {"Key": "idp-dr:restore-kind", "Value": "drill"} in request["Tags"]
    # RPO: the replicated backups' newest point trails by the simulated replication lag.
    assert motofix.REPLICATION_LAG_S - 5 <= doc["result"]["rpo"]["rpo_s"] <= motofix.REPLICATION_LAG_S + 120
    assert doc["result"]["rto"]["total_s"] == pytest.approx(
        sum(doc["result"]["rto"][p] for p in ("restore", "start", "verify")), abs=0.2
    )
    # Nothing left: the instance, its security group and the drill's Kubernetes objects are gone.
    assert _dr_instances(world) == before
    assert _drill_groups(world) == []
    assert _drill_objects(cluster) == []
    assert _succeeded_metric(world) == [1.0, 1.0]
    files = doc["result"]["files"]
    assert {Path(f).name for f in files.values()} == {"drill-report.json", "drill-report.md", "timeline.png"}
    assert "PASSED" in Path(files["markdown"]).read_text()


def test_the_drill_database_admits_only_the_dr_clusters_pods_on_its_port(world, cluster, drill):
    opened: list[dict[str, Any]] = []
    world.faults.add("AuthorizeSecurityGroupIngress", lambda p: opened.append(p) and None)
    assert drill().code == 0
    [call] = opened
    [permission] = call["IpPermissions"]
    pods = world.client("ec2", "eu-central-1").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["idp-dr-pods"]}]
    )["SecurityGroups"][0]["GroupId"]
    account = "123456789012"  # moto's
    pairs = [{"GroupId": pods, "UserId": account}]
    assert permission == {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": pairs}


def test_the_drill_idp_is_the_standbys_image_on_the_drill_database_isolated(world, cluster, drill):
    result = drill()
    assert result.code == 0, result.stderr
    by_kind = {(m["kind"], m["metadata"]["name"]): m for m in cluster.applied}
    deployment = by_kind[("Deployment", "keycloak")]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["namespace"] == DRILL_NS and deployment["spec"]["replicas"] == 1
    assert pod["containers"][0]["image"] == "keycloak:26.4.2"
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["JAVA_OPTS_APPEND"]["value"] == f"-Djgroups.dns.query=keycloak-discovery.{DRILL_NS}.svc"
    secret = by_kind[("Secret", "keycloak-db")]
    import base64

    host = base64.b64decode(secret["data"]["KC_DB_URL_HOST"]).decode()
    assert host.startswith(result.json()["result"]["drill"] + ".")
    assert {m["metadata"]["namespace"] for m in cluster.applied} == {DRILL_NS}
    assert all(m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "idp-dr-drill" for m in cluster.applied)
    assert {m["kind"] for m in cluster.applied} == {"Secret", "ConfigMap", "Deployment", "Service"}


# -- it never touches production ------------------------------------------------------------------------
def test_no_route53_call_at_all(world, drill):
    assert drill().code == 0
    assert [c.operation for c in world.recorder.calls if c.service == "route53"] == []


def test_every_mutating_aws_call_names_a_drill_resource(world, drill):
    assert drill().code == 0
    groups: set[str] = set()
    for call in world.recorder.calls:
        if call.operation == "CreateSecurityGroup":
            assert call.params["GroupName"].startswith("idp-dr-drill-")
    created = world.recorder.params("AuthorizeSecurityGroupIngress") + world.recorder.params("DeleteSecurityGroup")
    groups = {p["GroupId"] for p in created}
    drill_groups = {
        g["GroupId"]
        for g in world.client("ec2", "eu-central-1").describe_security_groups()["SecurityGroups"]
        if g["GroupName"].startswith("idp-dr-drill-")
    }
    assert drill_groups == set()  # all deleted again
    mutating = sorted({f"{c.service}:{c.operation}" for c in world.recorder.calls if c.operation[:3] not in
                       ("Des", "Get", "Lis", "Sim")})  # fmt: skip
    assert mutating == [
        "cloudwatch:PutMetricData",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:RevokeSecurityGroupEgress",
        "rds:DeleteDBInstance",
        "rds:RestoreDBInstanceToPointInTime",
        "s3:PutObject",
    ]
    [record] = world.recorder.params("PutObject")
    assert record["Key"].startswith("idp-dr/drills/") and record["Bucket"] == world.outputs["archive"]["drBucket"]
    body = world.client("s3", "eu-central-1").get_object(Bucket=record["Bucket"], Key=record["Key"])["Body"].read()
    kept = json.loads(body)
    assert kept["succeeded"] is True and {c["name"] for c in kept["report"]["checks"]} >= {"verify.token.signature"}
    password = json.loads(world.client("secretsmanager", "eu-central-1").get_secret_value(
        SecretId=VERIFIER)["SecretString"])["client_secret"]  # fmt: skip
    assert password not in body.decode()
    for params in world.recorder.params("DeleteDBInstance") + world.recorder.params("RestoreDBInstanceToPointInTime"):
        name = params.get("DBInstanceIdentifier") or params.get("TargetDBInstanceIdentifier")
        assert name.startswith("idp-dr-drill-")
    assert len(groups) == 1


def test_nothing_is_written_in_the_standbys_namespace(world, cluster, drill):
    assert drill().code == 0
    writes = [c for c in cluster.calls if c[0] in ("apply", "delete", "patch_secret_data", "scale", "annotate",
                                                     "rollout_restart")]  # fmt: skip
    assert writes and all(c[1] == DRILL_NS for c in writes)


def test_a_drill_named_instance_without_the_drill_tag_is_left_alone(world, drill):
    rds = world.client("rds", "eu-central-1")
    rds.create_db_instance(DBInstanceIdentifier="idp-dr-drill-not-ours", DBInstanceClass="db.t4g.micro",
                           Engine="postgres", MasterUsername="x", MasterUserPassword="not-a-drill-9f",
                           AllocatedStorage=20)  # fmt: skip
    assert drill().code == 0
    assert "idp-dr-drill-not-ours" in _dr_instances(world)
    deleted = [p["DBInstanceIdentifier"] for p in world.recorder.params("DeleteDBInstance")]
    assert "idp-dr-drill-not-ours" not in deleted


# -- failures, interruption, keep and re-run: nothing left behind ----------------------------------------
def test_an_idp_that_never_becomes_ready_times_out_and_is_cleaned_up(world, cluster, drill):
    cluster.ready_after = 10**6
    result = drill("--k8s-timeout", "1m")
    assert result.code == 4, result.stderr
    assert "identity-drill/keycloak ready" in result.error_line
    assert _drill_objects(cluster) == [] and _drill_groups(world) == []
    assert not [i for i in _dr_instances(world) if i.startswith("idp-dr-drill-")]
    assert _succeeded_metric(world) == [0.0, 0.0]


def test_a_drill_idp_with_other_keys_fails_verify_and_is_cleaned_up(world, cluster, drill, idp):
    idp.keys = generate_keys(1)  # the restored IdP publishes none of the baseline's keys
    result = drill()
    assert result.code == 1, result.stderr
    checks = {c["name"]: c["status"] for c in result.json()["checks"]}
    assert checks["verify.jwks.baseline_overlap"] == "FAIL"
    assert checks["baseline.fresh"] == "warn"
    assert _drill_objects(cluster) == [] and _drill_groups(world) == []
    assert _succeeded_metric(world) == [0.0, 0.0]


def test_an_interrupted_drill_cleans_up_what_it_created(world, cluster, drill):
    cluster.fail_on = ("Deployment", KeyboardInterrupt())
    result = drill()
    assert result.code == 130
    assert _drill_objects(cluster) == [] and _drill_groups(world) == []
    assert not [i for i in _dr_instances(world) if i.startswith("idp-dr-drill-")]
    steps = {s["name"]: s["status"] for s in result.report.to_dict()["steps"]}
    assert steps["start"] == "failed" and steps["cleanup"] == "ok"


def test_keep_leaves_the_drill_and_a_rerun_removes_it_first(world, cluster, drill):
    kept = drill("--keep")
    assert kept.code == 0, kept.stderr
    drill_id = kept.json()["result"]["drill"]
    assert drill_id in _dr_instances(world) and _drill_objects(cluster)
    assert any("drill --aws --cleanup" in note for note in kept.json()["notes"])
    world.clock.sleep(60)  # the next drill gets another name
    again = drill()
    assert again.code == 0, again.stderr
    leftovers = next(s for s in again.json()["steps"] if s["name"] == "leftovers")
    assert drill_id in leftovers["detail"]["removed"]["db_instances"]
    assert not [i for i in _dr_instances(world) if i.startswith("idp-dr-drill-")]
    assert _drill_objects(cluster) == [] and _drill_groups(world) == []


def test_cleanup_alone_removes_a_kept_drill_and_restores_nothing(world, cluster, drill):
    assert drill("--keep").code == 0
    world.recorder.calls.clear()
    result = drill("--cleanup")
    assert result.code == 0, result.stderr
    assert world.recorder.params("RestoreDBInstanceToPointInTime") == []
    assert not [i for i in _dr_instances(world) if i.startswith("idp-dr-drill-")]
    assert _drill_objects(cluster) == [] and _drill_groups(world) == []


# -- refusals: before anything is created -----------------------------------------------------------------
def test_a_missing_drill_namespace_is_refused_before_any_change(world, cluster, drill):
    del cluster.state["objects"][f"namespace//{DRILL_NS}"]
    result = drill()
    assert result.code == 3
    assert result.error_line == (
        f"the drill namespace {DRILL_NS} does not exist in the DR cluster (SIMULATED Kubernetes (in-memory fake))"
    )
    assert world.recorder.params("RestoreDBInstanceToPointInTime") == []


def test_a_baseline_of_another_issuer_is_refused(world, drill, idp, tmp_path):
    other = tmp_path / "other.json"
    baseline = capture_baseline(BaselineParams(Target(idp="keycloak", base_url=idp.url, realm="company")))
    doc = {**baseline.to_dict(), "issuer": "https://other/realms/company"}
    other.write_text(json.dumps(doc))
    result = drill("--baseline", str(other))
    assert result.code == 3, result.stderr
    assert result.error_line.startswith(f"the baseline {other} is of issuer https://other/realms/company, not the")
    assert world.recorder.params("RestoreDBInstanceToPointInTime") == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--method", "dump"],
            "invalid --method 'dump': wal with --aws (it restores the replicated automated backups)",
        ),
        (["--seed-users", "9"], "invalid --seed-users 9: a --local option (not used with --aws)"),
        (["--reach", "ssh"], "invalid --reach 'ssh': auto or port-forward or service"),
        (["--keep", "--cleanup"], "invalid --keep True: not with --cleanup (which removes what a drill kept)"),
        (["--k8s-timeout", "0"], "invalid --k8s-timeout 0.0: minutes from 1 to 240"),
    ],
)
def test_bad_flags_are_refused_before_any_call(world, drill, extra, message):
    result = drill(*extra)
    assert result.code == 2
    assert result.error_line == message
    assert world.recorder.calls == []


def test_stack_outputs_are_required_with_aws(world):
    result = invoke(["drill", "--aws"])
    assert result.code == 2
    assert result.error_line == (
        "invalid --stack-outputs None: the stack's outputs (a file, - or ssm://REGION/PARAM) with --aws"
    )


def test_aws_flags_are_refused_with_local():
    result = invoke(["drill", "--local", "--cleanup"])
    assert result.code == 2
    assert result.error_line == "invalid --cleanup True: an --aws option (not used with --local)"


# -- the record, and the hourly check's alarms on it -------------------------------------------------------
def _dr_paths(world, *extra: str) -> Any:
    argv = ["check", "dr-paths", "--stack-outputs", str(world.outputs_path), "--metric-namespace", "IdpDr/DrPaths",
            "--metric-stack", "prod", "--json", *extra]  # fmt: skip
    return invoke(argv, aws=world.aws())


def _latest(world, metric: str) -> float | None:
    cw = world.client("cloudwatch", "eu-central-1")
    points = cw.get_metric_statistics(
        Namespace="IdpDr/DrPaths", MetricName=metric, Dimensions=[{"Name": "Stack", "Value": "prod"}],
        StartTime=datetime(2020, 1, 1, tzinfo=UTC), EndTime=datetime(2100, 1, 1, tzinfo=UTC), Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]  # fmt: skip
    return max(points, key=lambda p: p["Timestamp"])["Maximum"] if points else None


def test_before_any_drill_the_check_counts_days_since_the_dr_bucket_and_publishes_no_outcome(world, drill):
    result = _dr_paths(world)
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["drills.recent"]["status"] == "pass"  # the bucket is minutes old
    assert checks["drills.recent"]["message"].startswith("no drill has succeeded since ")
    assert "drills.last_succeeded" not in checks
    assert _latest(world, "DaysSinceSuccessfulDrill") < 0.1
    assert _latest(world, "LastDrillSucceeded") is None


def test_a_failed_drill_after_a_good_one_alarms_as_failed_and_keeps_the_good_ones_age(world, cluster, drill, idp):
    assert drill().code == 0
    world.clock.sleep(3600)
    idp.keys = generate_keys(1)
    assert drill().code == 1
    result = _dr_paths(world)
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["drills.last_succeeded"]["status"] == "FAIL"
    assert "failed: " in checks["drills.last_succeeded"]["message"]
    assert _latest(world, "LastDrillSucceeded") == 0.0
    assert _latest(world, "DaysSinceSuccessfulDrill") < 1.0
    assert _latest(world, "LastDrillRtoSeconds") is not None


def test_no_successful_drill_for_longer_than_allowed_fails_the_check(world, drill, cluster):
    import json as _json

    old = {"drill": "idp-dr-drill-20260101-000000", "started_at": "2026-01-01T00:00:00Z", "succeeded": True,
           "rto_s": 900.0, "rpo_s": 300.0, "error": None}  # fmt: skip
    world.client("s3", "eu-central-1").put_object(
        Bucket=world.outputs["archive"]["drBucket"], Key="idp-dr/drills/20260101T000000Z.json", Body=_json.dumps(old)
    )
    result = _dr_paths(world, "--drill-max-age-days", "100")
    assert result.code == 1
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["drills.recent"]["status"] == "FAIL"
    assert checks["drills.recent"]["message"].startswith("the newest successful drill started 2026-01-01T00:00:00Z, ")
    assert _latest(world, "DaysSinceSuccessfulDrill") > 300
    assert _latest(world, "LastDrillRtoSeconds") == 900.0


# -- across the boundary: the program's drill role allows every call the drill makes ----------------------------
#: API operations whose IAM action has another name, or that need none.
_ACTION_OF = {"s3:ListObjectsV2": "s3:ListBucket", "s3:HeadObject": "s3:GetObject", "sts:GetCallerIdentity": None}
#: Best effort: the restore's permission pre-check; a role without it is told by the restore call itself.
_BEST_EFFORT = {"iam:SimulatePrincipalPolicy", "iam:GetRole", "iam:GetUser"}


def test_the_programs_drill_role_allows_every_call_the_drill_makes(world, drill):
    from scripts.aws.client import iam_action
    from tests.unit.conftest import run_stack

    assert drill().code == 0
    policy = json.loads(
        run_stack({"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}})
        .recorder.by_name("sso-dr-site-drill-policy")
        .inputs["policy"]
    )
    granted = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    needed = {_ACTION_OF.get(a, a) for a in {iam_action(c.service, c.operation) for c in world.recorder.calls}}
    needed -= {None} | _BEST_EFFORT
    assert needed - granted == set()


def test_in_the_cluster_the_drill_reaches_its_idp_by_the_service_and_checks_the_drill_database(
    world, cluster, drill, monkeypatch
):
    import scripts.drill.aws.drill as module

    seen = []
    monkeypatch.setattr(module, "verify", lambda params, report, baseline: seen.append(params))
    result = drill("--reach", "service")
    assert result.code == 0, result.stderr
    [params] = seen
    assert params.target.base_url == "http://idp-dr-drill.identity-drill.svc:8080"
    assert params.target.mgmt_url == "http://idp-dr-drill.identity-drill.svc:9000"
    db = params.target.db.describe()
    assert db["host"].startswith(result.json()["result"]["drill"] + ".") and db["user"] == "keycloak_app"
    assert db["sslmode"] == "verify-full"  # an RDS host: the server is verified with the shipped RDS roots
    password = params.target.db.password
    assert password and password not in result.stdout and password not in result.stderr
    assert ("forward", DRILL_NS, "idp-dr-drill", "8080", "9000") not in cluster.calls


# -- another drill: one at a time in the drill namespace -------------------------------------------------------
def _another_drill(world, minutes_ago: float, *, record: bool) -> str:
    """An instance as another runner's drill leaves it (named after its start, tagged), with or without its record."""
    from datetime import timedelta

    from contract.drills import drill_name, record_key

    started = world.clock.now() - timedelta(minutes=minutes_ago)
    name = drill_name(started)
    world.client("rds", "eu-central-1").create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro", Engine="postgres", MasterUsername="x",
        MasterUserPassword="another-drill-7c", AllocatedStorage=20,
        Tags=[{"Key": "idp-dr:restore-kind", "Value": "drill"}],
    )  # fmt: skip
    if record:
        world.client("s3", "eu-central-1").put_object(
            Bucket=world.outputs["archive"]["drBucket"], Key=record_key(started), Body=b'{"succeeded": false}'
        )
    return name


def test_a_drill_that_may_still_be_running_is_refused_and_nothing_is_created(world, drill):
    other = _another_drill(world, 12, record=False)
    result = drill()
    assert result.code == 3, result.stderr
    assert result.error_line.startswith(f"another drill, {other}, started ")
    assert result.error_line.endswith("has not finished (no record in s3://example-sso-archive-euc1/idp-dr/drills/"
                                      f"{other.removeprefix('idp-dr-drill-').replace('-', 'T')}Z.json): it may still "
                                      "be running")  # fmt: skip
    assert world.recorder.params("RestoreDBInstanceToPointInTime") == []
    assert world.recorder.params("DeleteDBInstance") == []
    assert other in _dr_instances(world)
    # Not this drill's outcome: no record (the running drill's will be the newest) and no metric.
    assert world.recorder.params("PutObject") == [] and world.recorder.params("PutMetricData") == []


def test_a_finished_drills_leftovers_are_removed_and_a_dead_runners_too(world, drill):
    finished = _another_drill(world, 12, record=True)
    dead = _another_drill(world, 60 * 24, record=False)
    result = drill()
    assert result.code == 0, result.stderr
    removed = next(s for s in result.json()["steps"] if s["name"] == "leftovers")["detail"]["removed"]
    assert sorted(removed["db_instances"]) == sorted([finished, dead])
    assert any(n.startswith(f"{dead} has no record and started ") for n in result.json()["notes"])
    assert not [i for i in _dr_instances(world) if i.startswith("idp-dr-drill-")]


def test_cleanup_removes_even_a_drill_without_a_record(world, drill):
    other = _another_drill(world, 5, record=False)
    result = drill("--cleanup")
    assert result.code == 0, result.stderr
    assert other not in _dr_instances(world)


def test_a_restore_that_fails_in_rds_is_reported_cleaned_up_and_recorded_as_failed(world, cluster, drill):
    from tests.scripts.world import error

    world.faults.add(
        "RestoreDBInstanceToPointInTime",
        lambda p: error("InsufficientDBInstanceCapacity", "Cannot create a db.r6g.large in eu-central-1c"),
    )
    result = drill()
    assert result.code == 5, result.stderr
    assert "InsufficientDBInstanceCapacity" in result.error_line
    steps = {s["name"]: s["status"] for s in result.report.to_dict()["steps"]}
    assert steps["restore"] == "failed" and steps["cleanup"] == "ok" and steps["record"] == "ok"
    assert _drill_groups(world) == [] and _drill_objects(cluster) == []
    assert _succeeded_metric(world) == [0.0, 0.0]


def test_a_cleanup_that_fails_keeps_the_drills_outcome_and_says_what_is_left(world, cluster, drill):
    from tests.scripts.world import error

    world.faults.add("DeleteDBInstance", lambda p: error("AccessDenied", "not authorized to rds:DeleteDBInstance", 403))
    first = drill()
    assert first.code == 1, first.stderr  # the drill proved the DR path, but a step (its cleanup) failed
    steps = {s["name"]: s["status"] for s in first.json()["steps"]}
    assert steps["verify"] == "ok" and steps["cleanup"] == "failed" and steps["record"] == "ok"
    assert any(
        n.startswith("cleanup failed: missing IAM permission rds:DeleteDBInstance") for n in first.json()["notes"]
    )
    assert _succeeded_metric(world) == [1.0, 1.0]  # the DR path was proven: the drill alarms stay quiet
    left = first.json()["result"]["drill"]
    assert left in _dr_instances(world)
    world.faults.clear()
    world.clock.sleep(60)
    second = drill()  # the first drill has its record: a leftover, removed first
    assert second.code == 0, second.stderr
    assert left not in _dr_instances(world)


def test_without_a_baseline_the_drill_is_refused_before_anything_is_created_and_recorded_as_failed(world, drill):
    s3 = world.client("s3", "eu-central-1")
    bucket = world.outputs["archive"]["drBucket"]
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="idp-dr/baselines/").get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    result = drill()
    assert result.code == 2, result.stderr
    assert result.error_line == (
        f"invalid --baseline 'latest': a baseline in s3://{bucket}/idp-dr/baselines/ (there is none)"
    )
    assert world.recorder.params("RestoreDBInstanceToPointInTime") == []
    # An unproven DR path: the drill-failed alarm must hear of it.
    assert _succeeded_metric(world) == [0.0, 0.0]


def test_a_configmap_the_standbys_pods_read_gone_missing_fails_the_start_and_everything_is_removed(
    world, cluster, drill
):
    del cluster.state["objects"]["configmap/identity/rds-ca"]
    result = drill()
    assert result.code == 3, result.stderr
    assert result.error_line == "configmap identity/rds-ca, which the standby's pods read, is missing"
    steps = {s["name"]: s["status"] for s in result.report.to_dict()["steps"]}
    assert steps["restore"] == "ok" and steps["start"] == "failed" and steps["cleanup"] == "ok"
    assert not [i for i in _dr_instances(world) if i.startswith("idp-dr-drill-")]
    assert _drill_objects(cluster) == [] and _drill_groups(world) == []


def test_sigterm_becomes_an_interruption_and_the_previous_handler_comes_back():
    """A Job's deadline or a drained node sends SIGTERM: inside the drill it is an interruption (the cleanup
    runs, as for Ctrl-C); after it, whatever handled SIGTERM before does again."""
    import os
    import signal

    from scripts.drill.aws.drill import Terminated, _sigterm_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), _sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes: give it some
            pass
    assert signal.getsignal(signal.SIGTERM) is before
