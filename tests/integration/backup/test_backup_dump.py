"""``backup dump`` against a real PostgreSQL 15 and a real moto_server endpoint: the dump lands in the
archive with its manifest, is read back and listed; a half-written upload is caught by that read-back
and its manifest says failed."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from scripts.backup import dump as dump_module
from scripts.backup.manifest import tier_for
from scripts.cli import main
from scripts.errors import ExitCode
from scripts.lab.postgres import PgCluster
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor
from tests.conftest import need

pytestmark = pytest.mark.integration

BUCKET = "idp-dr-dumps"


@dataclass
class Lab:
    pg: PgCluster
    s3: S3Server
    password: str
    workspace: Path

    def dsn(self) -> str:
        return self.pg.tcp_dsn("keycloak", "keycloak", self.password)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    need(pg_available(), "PostgreSQL 15 server binaries (apt-get install postgresql)")
    workspace = make_workspace(prefix="test-dump-")
    try:
        with Supervisor() as supervisor:
            pg = PgCluster.create(workspace, "pg", supervisor=supervisor)
            pg.start()
            password = secrets.token_urlsafe(16)
            pg.create_role_and_db("keycloak", password, "keycloak")
            with psycopg.connect(pg.tcp_dsn("keycloak", "keycloak", password), autocommit=True) as conn:  # as the IdP
                conn.execute("CREATE TABLE migration_model (id text, version text, update_time bigint)")
                conn.execute("INSERT INTO migration_model VALUES ('m1', '26.4.5', 1)")
                conn.execute("CREATE TABLE marker (note text)")
                conn.execute("INSERT INTO marker SELECT 'row ' || g FROM generate_series(1, 5000) g")
                # Several MiB even compressed: pg_restore --list stops reading early, the read-back must not.
                conn.execute("CREATE TABLE bulk AS SELECT md5(g::text) || md5((g * 7)::text) AS v "
                             "FROM generate_series(1, 150000) g")  # fmt: skip
            s3 = S3Server.start(supervisor, workspace)
            s3.create_bucket(BUCKET)
            yield Lab(pg, s3, password, workspace)
    finally:
        remove_tree(workspace)


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in LAB_AWS_ENV.items():
        monkeypatch.setenv(key, value)


def run_dump(lab: Lab, *extra: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["backup", "dump", "--idp", "keycloak", "--db-dsn", lab.dsn(), "--archive", f"s3://{BUCKET}",
         "--endpoint-url", lab.s3.endpoint_url, "--tier", "daily", "--json", "--quiet", *extra],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    return code, json.loads(out.getvalue()), out.getvalue() + err.getvalue()


def test_a_dump_lands_with_its_manifest_and_is_verified_where_it_landed(lab, aws_env):
    code, doc, text = run_dump(lab, "--kms-key-arn", "arn:aws:kms:eu-west-1:123456789012:key/abc")
    assert code == ExitCode.OK, text
    manifest = doc["result"]["manifest"]
    assert manifest["status"] == "verified" and manifest["problem"] is None
    assert manifest["size_bytes"] > 4 * 1024 * 1024  # more than pg_restore --list reads
    assert (manifest["idp"], manifest["idp_version"], manifest["database"]) == ("keycloak", "26.4.5", "keycloak")
    assert manifest["pg_server_major"] == 15 and manifest["pg_server_version"].startswith("15.")
    assert manifest["pg_dump_version"].startswith("15.") and manifest["source_is_replica"] is False
    assert manifest["key"].startswith("dumps/daily/keycloak/") and manifest["key"].endswith(".dump")
    client = lab.s3.client()
    body = client.get_object(Bucket=BUCKET, Key=manifest["key"])["Body"].read()
    import hashlib

    assert len(body) == manifest["size_bytes"] and hashlib.sha256(body).hexdigest() == manifest["sha256"]
    stored = json.loads(
        client.get_object(Bucket=BUCKET, Key=manifest["key"].replace(".dump", ".manifest.json"))["Body"].read()
    )
    assert stored == {"format": "idp-dr-dump", "version": 1, **manifest}
    assert lab.password not in text
    assert any("dumped the primary" in note for note in doc["notes"])


def test_the_manifest_records_the_key_s3_encrypted_the_dump_with(lab, aws_env):
    """Not the flag's word (it recorded null in a run with a keyed bucket): what S3 answers for the object."""
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    lab.s3.create_bucket("idp-dr-dumps-keyed")
    lab.s3.client().put_bucket_encryption(
        Bucket="idp-dr-dumps-keyed",
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]},
    )  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    code = main(["backup", "dump", "--idp", "keycloak", "--db-dsn", lab.dsn(), "--archive", "s3://idp-dr-dumps-keyed",
                 "--endpoint-url", lab.s3.endpoint_url, "--tier", "daily", "--json", "--quiet"],
                stdout=out, stderr=err)  # fmt: skip
    assert code == ExitCode.OK, err.getvalue()
    assert json.loads(out.getvalue())["result"]["manifest"]["kms_key_arn"] == key


def test_a_half_written_upload_is_caught_by_the_read_back(lab, aws_env, monkeypatch):
    real = dump_module._upload

    def truncated(req, source, key, s3):
        sha, size, problem = real(req, source, key, s3)
        body = s3.get_object(Bucket=req.bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=req.bucket, Key=key, Body=body[: len(body) // 2])  # the upload died half way
        return sha, size, problem

    monkeypatch.setattr(dump_module, "_upload", truncated)
    code, doc, _ = run_dump(lab)
    assert code == ExitCode.CHECK_FAILED
    manifest = doc["result"]["manifest"]
    assert manifest["status"] == "failed"
    assert manifest["problem"].startswith("the uploaded object differs from what pg_dump wrote")
    assert {c["name"]: c["status"] for c in doc["checks"]} == {"dump.verified": "FAIL"}


@pytest.mark.parametrize(
    ("when", "tier"),
    [(datetime(2026, 12, 1), "monthly"), (datetime(2026, 12, 6), "weekly"), (datetime(2026, 12, 2), "daily")],
)
def test_tier_auto_follows_the_calendar(when, tier):
    assert tier_for(when, "auto") == tier


def test_a_dump_pg_dump_cannot_finish_is_marked_failed_naming_the_error(lab, aws_env):
    lab.pg.execute("CREATE TABLE not_yours (x int)", dbname="keycloak")  # owned by postgres: unreadable
    try:
        code, doc, _ = run_dump(lab)
    finally:
        lab.pg.execute("DROP TABLE not_yours", dbname="keycloak")
    assert code == ExitCode.CHECK_FAILED
    manifest = doc["result"]["manifest"]
    assert manifest["status"] == "failed"
    assert manifest["problem"] == (
        "pg_dump exited 1: pg_dump: error: query failed: ERROR:  permission denied for table not_yours"
    )


# ---------------------------------------------------------------------------- restore dump
def run_restore(lab: Lab, *extra: str, state: Path | None = None) -> tuple[int, dict, str]:
    """``restore dump``, its journal in ``state`` (a new directory unless a test resumes one)."""
    out, err = io.StringIO(), io.StringIO()
    admin = lab.pg.tcp_dsn("postgres", "postgres", lab.pg.superuser_password)
    state = state or lab.workspace / "state" / secrets.token_hex(4)
    code = main(
        ["restore", "dump", "--archive", f"s3://{BUCKET}", "--endpoint-url", lab.s3.endpoint_url, "--db-dsn", admin,
         "--dbname", "keycloak", "--json", "--quiet", "--state-dir", str(state), *extra],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    return code, json.loads(out.getvalue()), out.getvalue() + err.getvalue()


def markers(lab: Lab) -> int:
    return lab.pg.execute("SELECT count(*) FROM marker", dbname="keycloak")[0][0]


def fresh_dump(lab: Lab) -> dict:
    code, doc, text = run_dump(lab)
    assert code == ExitCode.OK, text
    return doc["result"]["manifest"]


def test_a_dump_restores_the_database_it_was_taken_from(lab, aws_env, tmp_path):
    fresh_dump(lab)
    lab.pg.execute("DELETE FROM marker WHERE note <> 'row 1'", dbname="keycloak")  # the damage
    assert markers(lab) == 1
    kube_state = tmp_path / "kube.json"
    kube_state.write_text(json.dumps({"secrets": {}, "deployments": {}, "externalsecrets": {}}))
    from scripts.k8s.adapter import FileKube

    FileKube(kube_state).add_deployment("identity", "keycloak", 2)
    code, doc, text = run_restore(lab, "--yes", "--kube-adapter", f"fake:{kube_state}", "--app-version", "26.4.5",
                                  state=tmp_path / "state")  # fmt: skip
    assert code == ExitCode.OK, text
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("preflight", "ok"), ("scale-down", "ok"), ("terminate", "ok"), ("recreate", "ok"), ("restore", "ok"),
        ("scale-up", "ok"), ("verify", "skipped"),
    ]  # fmt: skip
    timeline = json.loads((tmp_path / "state" / "timeline.json").read_text())
    assert timeline["completed_at"] and list(timeline["steps"]) == [
        "scale-down", "terminate", "recreate", "restore", "scale-up"]  # fmt: skip
    postmortem = (tmp_path / "state" / "postmortem.md").read_text()
    assert postmortem.startswith("# Post-mortem: restore of keycloak from a logical dump")
    assert "Sessions and offline tokens issued after the dump are gone" in postmortem
    assert markers(lab) == 5000
    [(owner,)] = lab.pg.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'keycloak'")
    assert owner == "keycloak"
    with psycopg.connect(lab.dsn()) as conn:  # the IdP owns what was restored
        assert conn.execute("SELECT count(*) FROM marker").fetchone()[0] == 5000
    state = json.loads(kube_state.read_text())["deployments"]["identity/keycloak"]
    assert state["replicas"] == 2
    assert lab.pg.superuser_password not in text


def test_without_yes_nothing_is_dropped(lab, aws_env):
    fresh_dump(lab)
    lab.pg.execute("INSERT INTO marker VALUES ('after the dump')", dbname="keycloak")
    before = markers(lab)
    code, doc, _ = run_restore(lab)
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"].startswith("restore dump drops and recreates database 'keycloak'")
    assert markers(lab) == before


def test_a_damaged_dump_is_refused_by_its_checksum_before_anything_changes(lab, aws_env):
    manifest = fresh_dump(lab)
    client = lab.s3.client()
    body = bytearray(client.get_object(Bucket=BUCKET, Key=manifest["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one flipped byte (bit rot, a tampered object)
    client.put_object(Bucket=BUCKET, Key=manifest["key"], Body=bytes(body))
    before = markers(lab)
    code, doc, _ = run_restore(lab, "--yes", "--dump", manifest["key"])
    assert code == ExitCode.REFUSED
    assert "SHA-256 mismatch; nothing was changed" in doc["error"]["message"]
    assert markers(lab) == before


def test_a_dump_of_a_newer_idp_or_postgresql_is_refused_before_anything_changes(lab, aws_env):
    manifest = fresh_dump(lab)
    before = markers(lab)
    code, doc, _ = run_restore(lab, "--yes", "--dump", manifest["key"], "--app-version", "26.3.1")
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"] == (
        "the dump was written by keycloak 26.4.5; the version that will run on it is 26.3.1: an older keycloak "
        "cannot start on a newer schema"
    )
    client = lab.s3.client()
    key = manifest["key"].replace(".dump", ".manifest.json")
    newer = {**json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read()), "pg_server_major": 17,
             "pg_server_version": "17.2"}  # fmt: skip
    client.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(newer).encode())
    code, doc, _ = run_restore(lab, "--yes", "--dump", manifest["key"])
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"].startswith("the dump comes from PostgreSQL 17.2; the target server is PostgreSQL 15")
    assert markers(lab) == before


def test_a_failed_dump_is_never_latest(lab, aws_env, monkeypatch):
    good = fresh_dump(lab)
    lab.pg.execute("CREATE TABLE not_yours (x int)", dbname="keycloak")
    try:
        assert run_dump(lab)[0] == ExitCode.CHECK_FAILED  # newer, but failed
    finally:
        lab.pg.execute("DROP TABLE not_yours", dbname="keycloak")
    code, doc, _ = run_restore(lab, "--dry-run")
    assert code == ExitCode.OK
    assert (
        doc["result"]["dump"] == f"s3://{BUCKET}/{good['key']}"
        or doc["result"]["dump"] > f"s3://{BUCKET}/{good['key']}"
    )
    assert doc["result"]["dry_run"] is True


def test_a_verified_dump_publishes_the_freshness_metric(lab, aws_env, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", lab.s3.endpoint_url)  # moto_server answers CloudWatch too
    code, _doc, text = run_dump(lab, "--metric-namespace", "IdpDr/Backups", "--metric-stack", "sso")
    assert code == ExitCode.OK, text
    cloudwatch = boto3.client("cloudwatch", endpoint_url=lab.s3.endpoint_url, region_name=LAB_AWS_ENV["AWS_REGION"])
    [metric] = cloudwatch.list_metrics(Namespace="IdpDr/Backups")["Metrics"]
    assert metric["MetricName"] == "VerifiedDumps" and metric["Dimensions"] == [{"Name": "Stack", "Value": "sso"}]


# ---------------------------------------------------------------------------- what a real archive gets wrong
def test_a_missing_bucket_is_bad_input_before_the_database_is_dumped(lab, aws_env):
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["backup", "dump", "--idp", "keycloak", "--db-dsn", lab.dsn(), "--archive", "s3://no-such-archive",
         "--endpoint-url", lab.s3.endpoint_url, "--quiet"],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    assert code == ExitCode.BAD_INPUT
    assert "error: invalid --archive 's3://no-such-archive': an existing bucket (none by that name)" in err.getvalue()


def test_a_missing_bucket_at_restore_is_bad_input_and_nothing_is_dropped(lab, aws_env):
    before = markers(lab)
    out, err = io.StringIO(), io.StringIO()
    admin = lab.pg.tcp_dsn("postgres", "postgres", lab.pg.superuser_password)
    code = main(
        ["restore", "dump", "--archive", "s3://no-such-archive", "--endpoint-url", lab.s3.endpoint_url,
         "--db-dsn", admin, "--dbname", "keycloak", "--yes", "--quiet"],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    assert code == ExitCode.BAD_INPUT
    assert "error: invalid --archive 's3://no-such-archive': an existing bucket (none by that name)" in err.getvalue()
    assert markers(lab) == before


def test_an_unreachable_store_is_an_external_failure_not_a_traceback(lab, aws_env):
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["backup", "dump", "--idp", "keycloak", "--db-dsn", lab.dsn(), "--archive", f"s3://{BUCKET}",
         "--endpoint-url", "http://127.0.0.1:9", "--quiet"],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    assert code == ExitCode.EXTERNAL
    assert "error: cannot reach the S3 endpoint http://127.0.0.1:9" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_a_bad_tier_is_refused_before_anything_runs(lab, aws_env):
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["backup", "dump", "--idp", "keycloak", "--db-dsn", "host=127.0.0.1 port=9 dbname=x", "--archive",
         f"s3://{BUCKET}", "--endpoint-url", lab.s3.endpoint_url, "--tier", "hourly", "--quiet"],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    assert code == ExitCode.BAD_INPUT
    assert "error: invalid --tier 'hourly': auto, or one of daily, weekly, monthly" in err.getvalue()


def test_an_interrupted_restore_resumes_with_the_dump_and_owner_it_chose(lab, aws_env, tmp_path, monkeypatch):
    from scripts.backup import restore as restore_module

    first, dumped_rows = fresh_dump(lab), markers(lab)
    real, calls = restore_module._pg_restore, []

    def dies_half_way(req, s3, manifest, owner):
        calls.append(manifest.key)
        lab.pg.execute("CREATE TABLE marker (note text)", dbname="keycloak")  # some of it landed ...
        raise KeyboardInterrupt  # ... then the operator's laptop went to sleep

    monkeypatch.setattr(restore_module, "_pg_restore", dies_half_way)
    state = tmp_path / "state"
    code, doc, _ = run_restore(lab, "--yes", "--dump", "latest", state=state)
    assert code == ExitCode.INTERRUPTED and calls == [first["key"]]
    # The half-restored database is marked: the scheduled dump refuses it, so it never becomes latest.
    code, doc, _ = run_dump(lab)
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"].startswith("database 'keycloak' is being restored (idp-dr: restore dump in progress")
    # The database is gone altogether by the time the operator is back (someone "cleaned up").
    lab.pg.execute("DROP DATABASE keycloak")
    monkeypatch.setattr(restore_module, "_pg_restore", real)
    code, doc, text = run_restore(lab, "--yes", "--dump", "latest", state=state)  # no --owner: it is pinned
    assert code == ExitCode.OK, text
    steps = {s["name"]: s["status"] for s in doc["steps"]}
    assert (steps["terminate"], steps["recreate"], steps["restore"]) == ("skipped", "ok", "resumed")
    assert doc["result"]["dump"] == f"s3://{BUCKET}/{first['key']}" and markers(lab) == dumped_rows
    [(comment,)] = lab.pg.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'keycloak'"
    )
    assert comment is None  # the mark is cleared: dumps may run again
    journal = json.loads((state / "timeline.json").read_text())
    assert [r["result"] for r in journal["runs"]] == ["stopped: interrupted", "restored"]
    assert journal["steps"]["restore"]["attempts"] == 2
    assert run_dump(lab)[0] == ExitCode.OK


def test_a_resumed_restore_refuses_another_dump(lab, aws_env, tmp_path, monkeypatch):
    from scripts.backup import restore as restore_module

    first, dumped_rows = fresh_dump(lab), markers(lab)
    real = restore_module._pg_restore

    def fails(req, s3, manifest, owner):
        raise restore_module.ExternalError("pg_restore failed: out of disk")

    monkeypatch.setattr(restore_module, "_pg_restore", fails)
    state = tmp_path / "state"
    assert run_restore(lab, "--yes", state=state)[0] == ExitCode.EXTERNAL
    monkeypatch.setattr(restore_module, "_pg_restore", real)
    # Someone clears the mark by hand and dumps the near-empty database: a newer verified dump.
    lab.pg.execute("COMMENT ON DATABASE keycloak IS NULL")
    with psycopg.connect(lab.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE migration_model (id text, version text, update_time bigint)")
        conn.execute("INSERT INTO migration_model VALUES ('m1', '26.4.5', 1)")
    second = fresh_dump(lab)
    code, doc, _ = run_restore(lab, "--yes", "--dump", second["key"], state=state)
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"] == (
        f"an unfinished restore of 'keycloak' from {first['key']} is recorded in {state / 'state.json'}; "
        f"this run asks for {second['key']}"
    )
    assert run_restore(lab, "--yes", state=state)[0] == ExitCode.OK  # latest: the pinned one, not the newer
    assert markers(lab) == dumped_rows


def test_a_database_without_the_idps_schema_is_refused_before_anything_is_written(lab, aws_env):
    client = lab.s3.client()
    before = client.list_objects_v2(Bucket=BUCKET).get("KeyCount")
    out, err = io.StringIO(), io.StringIO()
    not_the_idps = lab.pg.tcp_dsn("postgres", "keycloak", lab.password)
    code = main(["backup", "dump", "--idp", "keycloak", "--db-dsn", not_the_idps,
                 "--archive", f"s3://{BUCKET}", "--endpoint-url", lab.s3.endpoint_url, "--json", "--quiet"],
                stdout=out, stderr=err)  # fmt: skip
    assert code == ExitCode.REFUSED
    assert json.loads(out.getvalue())["error"]["message"] == (
        "database 'postgres' holds no keycloak schema (relation \"migration_model\" does not exist); "
        "nothing was written"
    )
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == before


def test_an_owner_that_does_not_exist_is_refused_before_anything_is_dropped(lab, aws_env):
    fresh_dump(lab)
    before = markers(lab)
    code, doc, _ = run_restore(lab, "--yes", "--owner", "nobody")
    assert code == ExitCode.BAD_INPUT
    assert doc["error"]["message"] == (
        "invalid --owner 'nobody': a role that exists on the target server "
        "(create it first: 'idp-dr bootstrap db' does)"
    )
    assert markers(lab) == before


def test_an_admin_that_could_drop_but_not_restore_is_refused_before_anything_is_dropped(lab, aws_env):
    fresh_dump(lab)
    before = markers(lab)
    password = secrets.token_urlsafe(12)
    lab.pg.execute(f"CREATE ROLE half_admin LOGIN CREATEDB PASSWORD '{password}'")
    try:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            [
                "restore",
                "dump",
                "--archive",
                f"s3://{BUCKET}",
                "--endpoint-url",
                lab.s3.endpoint_url,
                "--db-dsn",
                lab.pg.tcp_dsn("postgres", "half_admin", password),
                "--dbname",
                "keycloak",
                "--yes",
                "--state-dir",
                str(lab.workspace / "state-half"),
                "--json",
                "--quiet",
            ],
            stdout=out,
            stderr=err,
        )
        doc = json.loads(out.getvalue())
    finally:
        lab.pg.execute("DROP ROLE half_admin")
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"] == (
        "the admin connection's role half_admin is not a member of keycloak: it could drop 'keycloak' but not restore "
        "it as its owner; nothing was changed"
    )
    assert markers(lab) == before
