"""``recover`` against moto (the renames are moto's), the Kubernetes adapter's fake and a stand-in IdP.

moto has no ``StartDBInstanceAutomatedBackupsReplication``: its AWS-shaped answer is injected (the call
and its parameters are still recorded and checked). moto renames an instance at once; the window in
which neither name resolves, which AWS has, is injected where a test needs it.
"""

from __future__ import annotations

import json

import pytest

from contract.secrets import DB_SECRET_KEYS
from scripts.lifecycle import replica as replica_module
from scripts.recover import recover as recover_module
from scripts.recover.options import STEPS
from tests.scripts.recover_world import (
    DEPLOYMENT,
    NS,
    backup_replication_answered,
    instance,
    recover,
    replica,
    topology_record,
)
from tests.scripts.world import error, fresh_session, invoke


def names(doc):
    return {s["name"]: s["status"] for s in doc["steps"]}


def test_swap_restores_renames_and_brings_the_site_back_on_the_original_name(world, primary, tmp_path):
    backup_replication_answered(world)
    damaged = instance(world, "sso-db")
    result = recover(world, primary, tmp_path, "--latest", "--yes", "--expect-realm", "company")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [(s["name"], s["status"]) for s in doc["steps"] if "." not in s["name"]] == [
        ("preflight", "ok"),
        ("restore", "ok"),
        ("stop", "ok"),
        ("cut-over", "ok"),
        ("start", "ok"),
        ("verify", "ok"),
        ("follow", "ok"),
        ("reprotect", "ok"),
    ]
    incident = doc["result"]["incident"]
    stamp = doc["result"]["restore"]["target"].removeprefix("sso-db-recover-")
    # The original name now serves the restored instance; the damaged one is kept, renamed and tagged.
    serving, kept = instance(world, "sso-db"), instance(world, f"sso-db-damaged-{stamp}")
    assert serving["DbiResourceId"] != damaged["DbiResourceId"]
    assert kept["DbiResourceId"] == damaged["DbiResourceId"] and kept["DeletionProtection"] is True
    assert serving["Endpoint"]["Address"] == damaged["Endpoint"]["Address"]  # every client keeps working
    tags = {
        t["Key"]: t["Value"]
        for t in world.client("rds").list_tags_for_resource(ResourceName=kept["DBInstanceArn"])["TagList"]
    }
    assert tags["idp-dr:incident"] == incident and tags["idp-dr:recover-role"] == "damaged"
    assert instance(world, f"sso-db-recover-{stamp}") is None
    mutating = world.recorder.mutating()
    assert "rds:DeleteDBInstance" not in mutating and mutating.count("rds:RestoreDBInstanceToPointInTime") == 1
    renames = [
        (p["DBInstanceIdentifier"], p["NewDBInstanceIdentifier"]) for p in world.recorder.params("ModifyDBInstance")
    ]
    assert renames == [
        ("sso-db", f"sso-db-damaged-{stamp}"),
        (f"sso-db-recover-{stamp}", "sso-db"),
        ("sso-dr-replica", f"sso-dr-replica-stale-{stamp}"),
    ]
    [replication] = world.recorder.params("StartDBInstanceAutomatedBackupsReplication")
    assert replication["SourceDBInstanceArn"] == serving["DBInstanceArn"]
    assert replication["KmsKeyId"] == world.outputs["database"]["drKmsKeyArn"]
    assert primary.state["deployments"][f"{NS}/{DEPLOYMENT}"]["replicas"] == 2
    assert {c["name"]: c["status"] for c in doc["checks"]}["realm.company"] == "pass"
    # The DR replica follows the restored instance again; the stale one is kept, renamed and tagged.
    rebuilt, stale = replica(world, "sso-dr-replica"), replica(world, f"sso-dr-replica-stale-{stamp}")
    assert rebuilt["ReadReplicaSourceDBInstanceIdentifier"] == serving["DBInstanceArn"]
    assert stale["ReadReplicaSourceDBInstanceIdentifier"] == kept["DBInstanceArn"]
    [create] = world.recorder.params("CreateDBInstanceReadReplica")
    assert create["KmsKeyId"] == world.outputs["database"]["drKmsKeyArn"]
    assert create["DBInstanceClass"] == stale["DBInstanceClass"]
    assert not any("still replicates the damaged instance: recreate" in n for n in doc["notes"])
    assert any(
        f"sso-dr-replica-stale-{stamp} (kept: it was sso-dr-replica) holds no data the new replica lacks: delete it"
        in n
        for n in doc["notes"]
    )
    record = topology_record(world)
    assert record["primary"] == {
        "region": "eu-west-1",
        "instance_id": "sso-db",
        "resource_id": serving["DbiResourceId"],
    }
    postmortem = (tmp_path / "state" / "postmortem.md").read_text()
    assert postmortem.startswith("# Post-mortem: recover of sso-db to latest")
    assert "| cut-over |" in postmortem and "Sessions and offline tokens issued after 20" in postmortem


def test_repoint_points_the_site_at_the_restored_instance_and_says_what_pulumi_must_be_told(world, primary, tmp_path):
    result = recover(world, primary, tmp_path, "--latest", "--yes", "--method", "repoint")
    assert result.code == 0, result.stderr
    doc = result.json()
    restored = doc["result"]["restore"]["target"] if "restore" in doc["result"] else None
    assert restored and restored.startswith("sso-db-recover-")
    host = instance(world, restored)["Endpoint"]["Address"]
    secret = json.loads(
        world.client("secretsmanager").get_secret_value(
            SecretId=world.outputs["standby"]["primaryDbEndpointSecretArn"]
        )["SecretString"]
    )
    assert secret["host"] == host
    assert primary.state["secrets"][f"{NS}/keycloak-db"][DB_SECRET_KEYS["keycloak"]["host"]] == host
    assert "ModifyDBInstance" not in world.recorder.operations  # the damaged instance is not touched
    assert any("pulumi import" in n and restored in n for n in doc["notes"])


def test_dry_run_lists_every_call_and_changes_nothing(world, primary, tmp_path):
    result = recover(world, primary, tmp_path, "--latest", "--dry-run")
    assert result.code == 0, result.stderr
    plan = result.json()["result"]["plan"]
    assert plan[0].startswith("rds:RestoreDBInstanceToPointInTime sso-db -> sso-db-recover-")
    assert any(line.startswith("rds:ModifyDBInstance sso-db -> sso-db-damaged-") for line in plan)
    assert world.recorder.mutating() == [] and world.recorder.runbook_writes() == []
    assert not (tmp_path / "state").exists()
    assert primary.state["deployments"][f"{NS}/{DEPLOYMENT}"]["replicas"] == 2


def test_without_yes_it_is_refused_before_any_change(world, primary, tmp_path):
    result = recover(world, primary, tmp_path, "--latest")
    assert result.code == 3
    assert result.error_line.startswith("recover replaces the production database sso-db (restored to latest)")
    assert world.recorder.mutating() == []


def test_a_site_already_at_zero_is_refused_unless_forced_with_a_reason(world, primary, tmp_path):
    backup_replication_answered(world)
    primary.scale(NS, DEPLOYMENT, 0)
    result = recover(world, primary, tmp_path, "--latest", "--yes")
    assert result.code == 3
    assert result.error_line == (
        "the primary site is not running: keycloak at 0 replicas (SIMULATED Kubernetes "
        "(in-memory fake)); someone may be working on it"
    )
    assert world.recorder.mutating() == []
    result = recover(world, primary, tmp_path, "--latest", "--yes", "--force", "--reason", "site stopped by me")
    assert result.code == 0, result.stderr
    timeline = json.loads((tmp_path / "state" / "timeline.json").read_text())
    assert timeline["overridden"] == ["site at 0 replicas: keycloak"] and timeline["reason"] == "site stopped by me"


@pytest.mark.parametrize("step", [s for s in STEPS if s != "follow"] + ["cut-over-half-way", "reprotect-half-way"])
def test_an_interruption_at_each_step_resumes_there(world, primary, tmp_path, monkeypatch, step):
    backup_replication_answered(world)
    # Half-way: after the first rename and its tag; after the DR replica's rename, before the new one is created.
    owner, target = {"cut-over-half-way": (recover_module.Recover, "_tag"), "reprotect-half-way": (replica_module,
                     "_create")}.get(step, (recover_module.Recover, step.replace("-", "_")))  # fmt: skip
    real = getattr(owner, target)

    def interrupted_once(*args):
        monkeypatch.setattr(owner, target, real)
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, target, interrupted_once)
    first = recover(world, primary, tmp_path, "--latest", "--yes")
    assert first.code == 130
    second = recover(world, primary, tmp_path, "--latest", "--yes")
    assert second.code == 0, second.stderr
    timeline = json.loads((tmp_path / "state" / "timeline.json").read_text())
    interrupted = step.removesuffix("-half-way")
    for name in STEPS:
        assert timeline["steps"][name]["attempts"] == (2 if name == interrupted else 1), name
    assert [r["result"] for r in timeline["runs"]] == ["stopped: interrupted", "recovered and verified"]
    assert world.recorder.mutating().count("rds:RestoreDBInstanceToPointInTime") == 1
    # Each rename once (the primary's two, the DR replica's one), whatever was interrupted; one new replica.
    assert len(world.recorder.params("ModifyDBInstance")) == 3
    assert len(world.recorder.params("CreateDBInstanceReadReplica")) == 1
    assert (
        replica(world, "sso-dr-replica")["ReadReplicaSourceDBInstanceIdentifier"]
        == instance(world, "sso-db")["DBInstanceArn"]
    )
    assert instance(world, "sso-db")["DbiResourceId"] == timeline["pinned"]["restored_rid"]


def test_the_window_in_which_neither_name_resolves_is_waited_out(world, primary, tmp_path):
    backup_replication_answered(world)
    gone = {"polls": 0}

    def renaming(params):
        """After the first rename call, the new name does not resolve for two polls (as on AWS)."""
        if "ModifyDBInstance" not in world.recorder.operations or gone["polls"] >= 2:
            return None
        if str(params.get("DBInstanceIdentifier", "")).startswith("sso-db-damaged-"):
            gone["polls"] += 1
            return error("DBInstanceNotFound", f"DBInstance {params['DBInstanceIdentifier']} not found.", 404)
        return None

    world.faults.add("DescribeDBInstances", renaming)
    result = recover(world, primary, tmp_path, "--latest", "--yes")
    assert result.code == 0, result.stderr
    assert gone["polls"] == 2


def test_a_conflicting_second_incident_is_refused(world, primary, tmp_path, monkeypatch):
    monkeypatch.setattr(recover_module.Recover, "stop", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
    assert recover(world, primary, tmp_path, "--latest", "--yes").code == 130
    before = list(world.recorder.mutating())
    result = recover(world, primary, tmp_path, "--time", "2020-01-01T00:00:00Z", "--yes")
    assert result.code == 3
    assert result.error_line.startswith("an unfinished recover of sso-db to latest (swap, incident rc-")
    assert result.error_line.endswith("this run asks for 2020-01-01T00:00:00Z (swap)")
    assert world.recorder.mutating() == before


def test_a_failed_verify_stops_there_and_a_rerun_verifies_again(world, primary, tmp_path):
    backup_replication_answered(world)
    result = recover(world, primary, tmp_path, "--latest", "--yes", "--expect-realm", "gone")
    assert result.code == 1
    assert names(result.json())["verify"] == "failed"
    assert result.error_line == "the recovered primary site fails its checks: realm gone"
    again = recover(world, primary, tmp_path, "--latest", "--yes")
    assert again.code == 0, again.stderr
    steps = names(again.json())
    assert steps["restore"] == steps["cut-over"] == "skipped" and steps["verify"] == "resumed"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--latest", "--method", "flip"], "invalid --method 'flip': swap or repoint"),
        (["--latest", "--force"], "invalid --reason None: a non-empty explanation when --force overrides a refusal"),
        (["--time", "2026-11-23 10:00"], "invalid --time '2026-11-23 10:00'"),
        (
            ["--latest", "--session-hygiene", "logout-all"],
            "invalid --session-hygiene 'logout-all': only with --baseline (it runs as part of verify)",
        ),
        (
            ["--latest", "--session-hygiene", "clear-sessions"],
            "invalid --session-hygiene 'clear-sessions': one of off, logout-all for keycloak",
        ),
        (["--latest", "--timeout", "0"], "invalid --timeout 0.0: minutes from 1 to 1440"),
        (["--latest", "--client-id", "x"], "invalid --client-id 'x': only used with --baseline"),
    ],
)
def test_bad_input_is_refused_with_what_is_allowed_and_nothing_changes(world, primary, tmp_path, extra, message):
    result = recover(world, primary, tmp_path, *extra, "--yes")
    assert result.code == 2, result.stderr
    assert result.error_line.startswith(message)
    assert world.recorder.mutating() == [] and not (tmp_path / "state").exists()


def test_the_state_and_lock_live_in_the_dr_bucket_by_default(world, primary, tmp_path):
    backup_replication_answered(world)
    argv = [
        "recover",
        "--stack-outputs",
        str(world.outputs_path),
        "--probe-scheme",
        "http",
        "--json",
        "--latest",
        "--yes",
    ]
    result = invoke(argv, aws=world.aws(), kube=primary, clock=world.clock)
    assert result.code == 0, result.stderr
    body = world.client("s3", "eu-central-1").get_object(
        Bucket=world.outputs["archive"]["drBucket"], Key="idp-dr/runbook/recover-sso-db/state.json"
    )["Body"]
    state = json.loads(body.read())
    assert state["command"] == "recover" and state["completed_at"]
    assert "PutObject idp-dr/runbook/recover-sso-db/lock.json" in world.recorder.runbook_writes()
    listing = (
        fresh_session()
        .client("s3", region_name="eu-central-1")
        .list_objects_v2(Bucket=world.outputs["archive"]["drBucket"], Prefix="idp-dr/runbook/recover-sso-db/lock.json")
    )
    assert listing["KeyCount"] == 0  # the lock was let go


def test_without_a_baseline_preflight_takes_one_and_verify_catches_lost_signing_keys(world, primary, tmp_path):
    """--primary-base-url (a port-forward to Keycloak): preflight records the keys published now; a restored
    site that publishes other keys (tokens issued today would no longer validate) fails verify."""
    from tests.fakes.keycloak import FakeKeycloak, generate_keys

    backup_replication_answered(world)
    today, other = generate_keys(2)
    with FakeKeycloak(realm="company", keys=[today]) as keycloak:
        real_start = recover_module.Recover.start

        def start_with_other_keys(self):
            keycloak.keys = [other]  # the restore brought back a realm without today's key
            return real_start(self)

        recover_module.Recover.start = start_with_other_keys
        try:
            result = recover(world, primary, tmp_path, "--latest", "--yes", "--primary-base-url", keycloak.url)
        finally:
            recover_module.Recover.start = real_start
    assert result.code == 1
    doc = result.json()
    assert names(doc)["verify"] == "failed"
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["primary.verify.jwks.baseline_overlap"] == "FAIL"
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["pinned"]["baseline"]["jwks"]["signing_kids"] == [today.kid]


def test_a_baseline_taken_now_passes_when_the_restored_site_keeps_its_keys(world, primary, tmp_path):
    from tests.fakes.keycloak import FakeKeycloak, generate_keys

    backup_replication_answered(world)
    with FakeKeycloak(realm="company", keys=generate_keys(1)) as keycloak:
        result = recover(world, primary, tmp_path, "--latest", "--yes", "--primary-base-url", keycloak.url)
    assert result.code == 0, result.stderr
    checks = {c["name"]: c["status"] for c in result.json()["checks"]}
    assert checks["primary.verify.jwks.baseline_overlap"] == "pass" and checks["primary.verify.issuer"] == "pass"


def test_a_failed_second_rename_says_how_to_finish_or_undo_and_a_rerun_finishes(world, primary, tmp_path):
    backup_replication_answered(world)

    def refuse_second_rename(params):
        if str(params.get("DBInstanceIdentifier", "")).startswith("sso-db-recover-"):
            return error("InvalidDBInstanceState", "DB instance is not available for modification", 400)
        return None

    world.faults.add("ModifyDBInstance", refuse_second_rename)
    failed = recover(world, primary, tmp_path, "--latest", "--yes")
    assert failed.code == 5
    restored = [p["DBInstanceIdentifier"] for p in world.recorder.params("ModifyDBInstance")][-1]
    damaged = restored.replace("-recover-", "-damaged-")
    assert failed.error_line == (
        f"the rename of {restored} to sso-db failed: InvalidDBInstanceState: DB instance is "
        "not available for modification"
    )
    assert failed.hint_line.endswith(
        f"--db-instance-identifier {damaged} --new-db-instance-identifier sso-db --apply-immediately"
    )
    world.faults.clear()
    backup_replication_answered(world)
    again = recover(world, primary, tmp_path, "--latest", "--yes")
    assert again.code == 0, again.stderr
    assert instance(world, "sso-db")["DBInstanceIdentifier"] == "sso-db" and instance(world, damaged) is not None


def test_force_with_a_reason_abandons_the_unfinished_recover_for_the_record(world, primary, tmp_path, monkeypatch):
    monkeypatch.setattr(recover_module.Recover, "stop", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
    assert recover(world, primary, tmp_path, "--latest", "--yes").code == 130
    monkeypatch.undo()
    result = recover(
        world,
        primary,
        tmp_path,
        "--latest",
        "--method",
        "repoint",
        "--yes",
        "--force",
        "--reason",
        "swap abandoned: rename quota",
    )
    assert result.code == 0, result.stderr
    [kept] = sorted((tmp_path / "state").glob("state-abandoned-*.json"))
    assert json.loads(kept.read_text())["pinned"]["method"] == "swap"
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["pinned"]["method"] == "repoint" and state["reason"] == "swap abandoned: rename quota"
    assert state["abandoned_previous"] == {"restore_time": "latest", "reason": "swap abandoned: rename quota"}


def test_a_dry_run_after_a_finished_recover_writes_nothing(world, primary, tmp_path):
    backup_replication_answered(world)
    assert recover(world, primary, tmp_path, "--latest", "--yes").code == 0
    before = sorted(p.name for p in (tmp_path / "state").iterdir())
    writes = list(world.recorder.runbook_writes())
    assert recover(world, primary, tmp_path, "--latest", "--dry-run").code == 0
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == before
    assert world.recorder.runbook_writes() == writes
