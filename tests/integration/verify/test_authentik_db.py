"""authentik's database checks against real PostgreSQL 15 holding authentik's tables.

authentik cannot run here: HTTP comes from the fake in tests/fakes/authentik.py,
the schema fixture uses authentik's real table and column names. What is real:
PostgreSQL, the SQL verify runs (including md5(key_data) computed in the
database), and the session hygiene's deletes and foreign keys.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.lab.postgres import PgCluster
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor
from tests.conftest import need
from tests.fakes.authentik import FakeAuthentik, KeyPair, add_keypair, create_schema

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[PgCluster, str]]:
    need(pg_available(), "PostgreSQL 15 server binaries (apt-get install postgresql)")
    workspace = make_workspace(prefix="test-authentik-")
    try:
        with Supervisor() as supervisor:
            cluster = PgCluster.create(workspace, "pg", supervisor=supervisor)
            cluster.start()
            password = secrets.token_urlsafe(16)
            cluster.execute(f"CREATE ROLE authentik LOGIN PASSWORD '{password}'")
            yield cluster, password
    finally:  # also when setup is interrupted
        remove_tree(workspace)


@pytest.fixture
def ak(pg, request) -> Iterator[tuple[FakeAuthentik, str, psycopg.Connection]]:
    """A fake authentik and a fresh database with its schema; yields (fake, dsn, superuser connection)."""
    cluster, password = pg
    dbname = f"authentik_{request.node.name[5:40]}".lower()
    cluster.execute(f'CREATE DATABASE "{dbname}" OWNER authentik')
    fake = FakeAuthentik().start()
    with psycopg.connect(
        host=str(cluster.socket_dir), port=cluster.port, user="authentik", dbname=dbname, autocommit=True
    ) as conn:
        create_schema(conn, fake)
        yield fake, cluster.tcp_dsn(dbname, "authentik", password), conn
    fake.stop()


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def _secret(fake: FakeAuthentik, tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(fake.client_secret)
    return path


def _args(fake: FakeAuthentik, dsn: str, tmp_path: Path) -> list[str]:
    return [
        "--idp",
        "authentik",
        "--base-url",
        fake.url,
        "--app",
        fake.slug,
        "--client-id",
        fake.client_id,
        "--client-secret-file",
        str(_secret(fake, tmp_path)),
        "--db-dsn",
        dsn,
    ]


def _baseline(fake, dsn, tmp_path) -> Path:
    path = tmp_path / "baseline.json"
    code, _out, err = _cli("baseline", *_args(fake, dsn, tmp_path), "--out", str(path))
    assert code == ExitCode.OK, err
    return path


def _verify(fake, dsn, tmp_path, *extra: str) -> tuple[int, dict]:
    code, out, _err = _cli("verify", *_args(fake, dsn, tmp_path), *extra, "--json")
    return code, json.loads(out)


def _check(doc: dict, name: str) -> dict:
    (found,) = [c for c in doc["checks"] if c["name"] == name]
    return found


def _failed(doc: dict) -> list[str]:
    return [c["name"] for c in doc["checks"] if c["status"] == "FAIL"]


def _not_passed(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"] if c["status"] != "pass"}


def test_a_healthy_authentik_passes_every_check_against_its_baseline(ak, tmp_path):
    fake, dsn, _conn = ak
    path = _baseline(fake, dsn, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["app"] == "grafana" and saved["app_version"] == "2025.10.1"
    assert saved["counts"] == {"brands": 1, "users": 3, "applications": 1}
    assert saved["schema"] == {
        "last_migration": "authentik_brands.0009_brand_branding_default_flow_background",
        "migrations": 4,
    }
    code, doc = _verify(fake, dsn, tmp_path, "--baseline", str(path))
    assert code == ExitCode.OK
    assert _not_passed(doc) == {"db.tls": "skipped", "sessions.hygiene": "skipped"}
    assert (
        _check(doc, "db.signing_keys")["message"]
        == "1 enabled signing key in the database; every published key ID is among them"
    )
    # The kid is md5(key_data), computed by PostgreSQL: the private key never left the database.
    assert _check(doc, "db.signing_keys")["evidence"]["keys"][0]["kid"] == fake.signing_key.kid


def test_the_schema_version_from_the_api_when_there_is_no_baseline(ak, tmp_path):
    fake, dsn, _conn = ak
    fake.allowed_scopes = (*fake.allowed_scopes, "goauthentik.io/api")
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer)
    assert code == ExitCode.OK
    assert _check(doc, "db.schema_version")["evidence"]["expected_from"] == "reported by /api/v3/admin/version/"
    fake.version = "2026.2.0"  # the running server is newer than what last migrated the database
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer)
    assert code == ExitCode.CHECK_FAILED
    assert (
        _check(doc, "db.schema_version")["message"]
        == "the database was last migrated by authentik 2025.10.1, expected 2026.2.0"
    )


def test_a_database_migrated_further_than_the_baseline(ak, tmp_path):
    fake, dsn, conn = ak
    path = _baseline(fake, dsn, tmp_path)
    conn.execute(
        "INSERT INTO django_migrations (app, name, applied) VALUES ('authentik_core', '0055_user_locale', now())"
    )
    conn.execute("INSERT INTO authentik_version_history (timestamp, version, build) VALUES (now(), '2026.2.0', '')")
    code, doc = _verify(fake, dsn, tmp_path, "--baseline", str(path))
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.schema_version"]
    assert _check(doc, "db.schema_version")["message"] == (
        "the database was last migrated by authentik 2026.2.0, expected 2025.10.1; last_migration is "
        "'authentik_core.0055_user_locale', the baseline has "
        "'authentik_brands.0009_brand_branding_default_flow_background'; migrations is 5, the baseline has 4"
    )


def test_a_provider_key_replaced_after_the_baseline(ak, tmp_path):
    fake, dsn, conn = ak
    path = _baseline(fake, dsn, tmp_path)
    new = KeyPair.generate("replacement")
    add_keypair(conn, new)
    conn.execute(
        "UPDATE authentik_providers_oauth2_oauth2provider SET signing_key_id = "
        "(SELECT kp_uuid FROM authentik_crypto_certificatekeypair WHERE name = 'replacement')"
    )
    fake.signing_key = new
    code, doc = _verify(fake, dsn, tmp_path, "--baseline", str(path))
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["jwks.baseline_overlap", "db.signing_keys"]
    assert _check(doc, "db.signing_keys")["message"] == "none of the baseline's signing keys is in the database"


def test_a_server_publishing_keys_its_database_does_not_hold(ak, tmp_path):
    fake, dsn, _conn = ak
    fake.signing_key = KeyPair.generate("from another installation")
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer)
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.signing_keys"]
    assert _check(doc, "db.signing_keys")["message"] == (
        f"the server publishes key IDs the database does not hold ({fake.signing_key.kid}): is it running on "
        "another database?"
    )


def test_a_provider_with_an_encryption_key_publishes_both_and_both_are_in_the_database(ak, tmp_path):
    fake, dsn, conn = ak
    fake.encryption_key = KeyPair.generate("encryption")
    add_keypair(conn, fake.encryption_key)
    conn.execute(
        "UPDATE authentik_providers_oauth2_oauth2provider SET encryption_key_id = "
        "(SELECT kp_uuid FROM authentik_crypto_certificatekeypair WHERE name = 'encryption')"
    )
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer)
    assert code == ExitCode.OK, _failed(doc)
    assert _check(doc, "jwks.signing_keys")["message"] == "1 signing key published"
    keys = {k["kid"]: k["use"] for k in _check(doc, "db.signing_keys")["evidence"]["keys"]}
    assert keys == {fake.signing_key.kid: "sig", fake.encryption_key.kid: "enc"}


def test_a_restore_that_lost_users_and_events(ak, tmp_path):
    fake, dsn, conn = ak
    path = _baseline(fake, dsn, tmp_path)
    conn.execute("DELETE FROM authentik_core_user WHERE username = 'user2'")
    conn.execute("DELETE FROM authentik_events_event")
    code, doc = _verify(fake, dsn, tmp_path, "--baseline", str(path))
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.users", "db.newest_event"]
    assert _check(doc, "db.users")["message"] == "2 users, fewer than the baseline's 3"
    newest = json.loads(path.read_text())["newest_event_at"]
    assert (
        _check(doc, "db.newest_event")["message"]
        == f"no events in the database; the baseline saw events up to {newest}"
    )


def test_an_old_newest_event_fails_max_event_age(ak, tmp_path):
    fake, dsn, _conn = ak
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer, "--max-event-age", "60")
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.newest_event"]
    assert "more than --max-event-age 60 s" in _check(doc, "db.newest_event")["message"]


def test_an_application_missing_from_the_database(ak, tmp_path):
    fake, dsn, conn = ak
    conn.execute("DELETE FROM authentik_core_application")
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer)
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.signing_keys", "db.applications"]
    assert _check(doc, "db.applications")["message"] == "application 'grafana' is not in the database; no applications"


def test_clear_sessions_deletes_sessions_and_session_bound_tokens(ak, tmp_path):
    fake, dsn, conn = ak
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer, "--session-hygiene", "clear-sessions")
    assert code == ExitCode.OK
    hygiene = _check(doc, "sessions.hygiene")
    assert (
        hygiene["message"] == "deleted 2 sessions (2 authenticated) and 2 session-bound tokens; every user "
        "signs in again"
    )
    assert hygiene["evidence"]["deleted_rows"] == {
        "authentik_providers_oauth2_accesstoken": 0,
        "authentik_providers_oauth2_refreshtoken": 2,
        "authentik_core_authenticatedsession": 2,
        "authentik_core_session": 2,
    }
    assert doc["notes"][0].startswith("session hygiene applied: clear-sessions at ")
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM authentik_core_session), "
        "(SELECT count(*) FROM authentik_providers_oauth2_refreshtoken)"
    ).fetchone()
    assert counts == (0, 0)


def test_a_database_that_is_not_authentiks(pg, ak, tmp_path):
    fake, _dsn, _conn = ak
    cluster, password = pg
    code, doc = _verify(
        fake, cluster.tcp_dsn("postgres", "authentik", password), tmp_path, "--expected-issuer", fake.issuer
    )
    assert code == ExitCode.CHECK_FAILED
    assert (
        _check(doc, "db.schema_version")["message"]
        == 'cannot read authentik\'s tables: relation "django_migrations" does not exist'
    )
    assert _check(doc, "db.users")["status"] == "skipped"


def test_an_unreachable_database_fails_db_connect_only(pg, ak, tmp_path):
    fake, _dsn, _conn = ak
    _cluster, password = pg
    bad = f"postgresql://authentik:{password}@127.0.0.1:1/authentik?connect_timeout=3"
    code, out, err = _cli("verify", *_args(fake, bad, tmp_path), "--expected-issuer", fake.issuer)
    assert code == ExitCode.CHECK_FAILED
    assert password not in out + err
    code, doc = _verify(fake, bad, tmp_path, "--expected-issuer", fake.issuer)
    assert _failed(doc) == ["db.connect"]
    assert _check(doc, "db.connect")["message"].startswith("cannot connect: ")
    assert _check(doc, "db.connect")["evidence"] == {
        "host": "127.0.0.1",
        "port": "1",
        "dbname": "authentik",
        "user": "authentik",
        "sslmode": "prefer",
    }


def test_a_version_before_2025_4_without_the_session_table_is_still_verified(ak, tmp_path):
    """authentik kept sessions in its cache before 2025.4: no authentik_core_session table."""
    fake, dsn, conn = ak
    conn.execute("DROP TABLE authentik_core_session CASCADE")
    code, doc = _verify(fake, dsn, tmp_path, "--expected-issuer", fake.issuer)
    assert code == ExitCode.OK, _failed(doc)
    assert _check(doc, "db.users")["status"] == "pass"
