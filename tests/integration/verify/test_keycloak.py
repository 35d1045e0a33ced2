"""verify and baseline against a real Keycloak 26 on a real PostgreSQL 15.

One primary Keycloak serves the session (tests use their own realms); the
failure cases each break one thing for real: another hostname (a second
Keycloak on the same database), keys rotated away (admin API), a token signed
by a foreign key (a re-signing proxy), a database at another schema version
(a restored copy migrated "by another version"), readiness down (a standby in
its graceful-shutdown phase, still answering everything else).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import psycopg
import pytest
import requests

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.lab.keycloak_admin import password_login
from scripts.report import Report
from scripts.verify import (
    CHECK_NAMES,
    BaselineParams,
    ClientCredentials,
    DbParams,
    Target,
    VerifyParams,
    capture_baseline,
    verify,
)
from tests.fakes.resigning_proxy import ResigningProxy
from tests.integration.verify.conftest import HOSTNAME, KeycloakLab, RealmSetup, other_ca_file

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _common(
    lab: KeycloakLab,
    setup: RealmSetup,
    *,
    base_url: str | None = None,
    mgmt_url: str | None = None,
    dsn: str | None = None,
) -> list[str]:
    return [
        "--idp",
        "keycloak",
        "--base-url",
        base_url or lab.primary.base_url,
        "--mgmt-url",
        mgmt_url or lab.primary.mgmt_url,
        "--realm",
        setup.realm,
        "--client-id",
        setup.client_id,
        "--client-secret-file",
        str(setup.secret_file),
        "--db-dsn",
        dsn or lab.dsn(),
    ]


def _baseline(lab: KeycloakLab, setup: RealmSetup) -> Path:
    path = lab.workspace / f"{setup.realm}.baseline.json"
    code, _out, err = _cli("baseline", *_common(lab, setup), "--out", str(path), "--quiet")
    assert code == ExitCode.OK, err
    return path


def _verify(lab: KeycloakLab, setup: RealmSetup, *extra: str, **where: str) -> tuple[int, dict]:
    code, out, err = _cli("verify", *_common(lab, setup, **where), *extra, "--json")
    doc = json.loads(out)
    assert "error" not in doc, err
    return code, doc


def _statuses(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"]}


def _check(doc: dict, name: str) -> dict:
    (found,) = [c for c in doc["checks"] if c["name"] == name]
    return found


def _failed(doc: dict) -> list[str]:
    return [c["name"] for c in doc["checks"] if c["status"] == "FAIL"]


ALWAYS_SKIPPED_HERE = {"db.tls", "sessions.hygiene"}  # TLS not required; hygiene off by default


def test_a_healthy_keycloak_passes_every_check(keycloak_lab: KeycloakLab):
    """The library path the local drill takes: capture_baseline, then verify with it."""
    lab = keycloak_lab
    setup = lab.make_realm("healthy")
    target = Target(
        "keycloak",
        lab.primary.base_url,
        realm=setup.realm,
        mgmt_url=lab.primary.mgmt_url,
        db=DbParams(lab.dsn()),
    )
    client = ClientCredentials(setup.client_id, setup.client_secret)
    baseline = capture_baseline(BaselineParams(target, client))
    assert baseline.issuer == f"{HOSTNAME}/realms/healthy"
    assert baseline.app_version == lab.primary.version == "26.7.3"
    assert baseline.counts == {"realms": baseline.counts["realms"], "users": 2, "clients": 7}
    assert baseline.token_kid in baseline.signing_kids
    assert baseline.newest_event_at is not None  # admin events of the realm's setup
    assert lab.primary.admin().server_version() == "26.7.3"  # the master admin sees systemInfo

    report = Report("verify")
    verify(VerifyParams(target, client=client), report, baseline)
    doc = report.to_dict()
    assert [c["name"] for c in doc["checks"]] == list(CHECK_NAMES["keycloak"])
    assert {n: s for n, s in _statuses(doc).items() if s != "pass"} == dict.fromkeys(ALWAYS_SKIPPED_HERE, "skipped")
    assert report.ok
    assert _check(doc, "issuer")["message"] == "issuer is https://sso.example.test/realms/healthy"
    assert _check(doc, "db.schema_version")["evidence"]["expected_from"] == "baseline"
    assert doc["result"]["token_kid"] == baseline.token_kid


def test_cli_baseline_and_verify_exit_0_and_print_no_secret(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    setup = lab.make_realm("cli")
    path = _baseline(lab, setup)
    saved = json.loads(path.read_text())
    assert (saved["format"], saved["version"], saved["realm"]) == ("idp-dr-baseline", 1, "cli")
    code, text, err = _cli("verify", *_common(lab, setup), "--baseline", str(path))
    assert code == ExitCode.OK, text
    assert text.splitlines()[0] == "verify: OK"
    code_json, out_json, _ = _cli("verify", *_common(lab, setup), "--baseline", str(path), "--json")
    assert code_json == ExitCode.OK
    for output in (text, err, out_json, path.read_text()):
        assert setup.client_secret not in output
        assert lab.db_password not in output
    assert json.loads(out_json)["checks"][6]["evidence"]["user"] == "keycloak"


def test_db_tls_is_a_real_check_when_asked(keycloak_lab: KeycloakLab, tls_ca: Path):
    lab = keycloak_lab
    setup = lab.make_realm("tls")
    path = _baseline(lab, setup)
    code, doc = _verify(
        lab, setup, "--baseline", str(path), "--db-sslmode", "verify-full", "--db-sslrootcert", str(tls_ca)
    )
    assert code == ExitCode.OK
    tls = _check(doc, "db.tls")
    assert tls["status"] == "pass"
    assert tls["evidence"]["ssl"] is True and tls["evidence"]["tls_version"].startswith("TLSv1.")

    code, doc = _verify(
        lab,
        setup,
        "--baseline",
        str(path),
        "--db-sslmode",
        "verify-full",
        "--db-sslrootcert",
        str(other_ca_file(lab.workspace)),
    )
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.connect"]
    assert "certificate verify failed" in _check(doc, "db.connect")["message"]
    assert _statuses(doc)["db.schema_version"] == "skipped"


def test_keys_rotated_away_after_the_baseline(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    setup = lab.make_realm("rotated")
    path = _baseline(lab, setup)
    old_kid = json.loads(path.read_text())["jwks"]["token_kid"]
    removed, active = lab.primary.admin().rotate_signing_keys_away(setup.realm)
    assert removed == [old_kid] and old_kid not in active

    code, doc = _verify(lab, setup, "--baseline", str(path))
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["jwks.baseline_overlap", "db.signing_keys"]
    assert _check(doc, "jwks.baseline_overlap")["message"] == (
        "none of the baseline's 1 signing keys is published any more: tokens issued before the restore no "
        "longer validate"
    )
    assert _check(doc, "jwks.baseline_overlap")["evidence"]["missing"] == [old_kid]
    assert _check(doc, "db.signing_keys")["message"] == "none of the baseline's signing keys is in the database"
    # The new key itself is fine: it is published, in the database, and signs verifiable tokens.
    assert _check(doc, "token.signature")["evidence"]["kid"] == active[0]


def test_a_token_signed_by_a_foreign_key(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    setup = lab.make_realm("foreign")
    path = _baseline(lab, setup)
    proxy = ResigningProxy(lab.primary.base_url).start()
    try:
        code, doc = _verify(lab, setup, "--baseline", str(path), base_url=proxy.url)
    finally:
        proxy.stop()
    assert proxy.resigned == 1
    kid = json.loads(path.read_text())["jwks"]["token_kid"]
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["token.signature", "token.issuer"]
    assert _check(doc, "token.signature")["message"] == (
        f"the token's signature does not verify against the JWKS key {kid!r}"
    )
    assert _check(doc, "token.issuer")["message"] == "no verified token to read 'iss' from"


def test_a_database_at_another_schema_version(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    setup = lab.make_realm("schema")
    path = _baseline(lab, setup)
    lab.copy_database("keycloak", "keycloak_future")
    with psycopg.connect(
        host=str(lab.pg.socket_dir),
        port=lab.pg.port,
        user="postgres",
        dbname="keycloak_future",
        autocommit=True,
    ) as conn:
        # What a newer Keycloak leaves behind: its Liquibase changesets and its migration_model row.
        conn.execute(
            "INSERT INTO migration_model (id, version, update_time) "
            "SELECT 'future', '99.0.0', max(update_time) + 1 FROM migration_model"
        )
        conn.execute(
            "INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype) "
            "SELECT '99.0.0-future-change', 'keycloak', 'META-INF/jpa-changelog-99.0.0.xml', now(), "
            "max(orderexecuted) + 1, 'EXECUTED' FROM databasechangelog"
        )
    changesets = json.loads(path.read_text())["schema"]["changesets"]
    code, doc = _verify(lab, setup, "--baseline", str(path), dsn=lab.dsn("keycloak_future"))
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.schema_version"]
    assert _check(doc, "db.schema_version")["message"] == (
        "the database was last migrated by keycloak 99.0.0, expected 26.7.3; "
        "last_changeset is '99.0.0-future-change', the baseline has '26.7.0-cluster-event'; "
        "last_changelog_file is 'META-INF/jpa-changelog-99.0.0.xml', the baseline has "
        "'META-INF/jpa-changelog-26.7.0.xml'; "
        f"changesets is {changesets + 1}, the baseline has {changesets}"
    )

    # Without a baseline, a realm's client cannot learn the server's version (Keycloak shows it to
    # master-realm admins only): the check is skipped, not guessed...
    code, doc = _verify(lab, setup, "--expected-issuer", f"{HOSTNAME}/realms/schema", dsn=lab.dsn("keycloak_future"))
    assert _check(doc, "db.schema_version")["message"] == (
        "database last migrated by keycloak 99.0.0; no expected version (/admin/serverinfo does not show the "
        "server version to this realm's client): pass --expect-version or --baseline"
    )
    assert _statuses(doc)["db.schema_version"] == "skipped"
    # ... and --expect-version states it.
    code, doc = _verify(
        lab,
        setup,
        "--expected-issuer",
        f"{HOSTNAME}/realms/schema",
        "--expect-version",
        "26.7.3",
        dsn=lab.dsn("keycloak_future"),
    )
    assert code == ExitCode.CHECK_FAILED
    schema = _check(doc, "db.schema_version")
    assert schema["message"] == "the database was last migrated by keycloak 99.0.0, expected 26.7.3"
    assert schema["evidence"]["expected_from"] == "--expect-version"


def test_another_hostname_changes_the_issuer(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    setup = lab.make_realm("hostname")
    path = _baseline(lab, setup)
    wrong = lab.start_keycloak("wrong-hostname", hostname="https://sso-dr.example.test")
    try:
        code, doc = _verify(lab, setup, "--baseline", str(path), base_url=wrong.base_url, mgmt_url=wrong.mgmt_url)
    finally:
        wrong.stop()
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["issuer", "token.issuer"]
    assert _check(doc, "issuer")["message"] == (
        "issuer is 'https://sso-dr.example.test/realms/hostname', expected 'https://sso.example.test/realms/hostname'"
    )
    assert _check(doc, "token.issuer")["message"] == (
        "token iss is 'https://sso-dr.example.test/realms/hostname', "
        "expected 'https://sso.example.test/realms/hostname'"
    )
    # Same database, so same keys: the token itself verifies.
    assert _statuses(doc)["token.signature"] == "pass"


def test_session_hygiene_logs_revived_sessions_out_and_records_it(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    setup = lab.make_realm("hygiene")
    login = password_login(
        lab.primary.base_url,
        setup.realm,
        setup.client_id,
        setup.client_secret,
        setup.users[0],
        setup.user_password,
    )
    path = _baseline(lab, setup)
    code, doc = _verify(lab, setup, "--baseline", str(path), "--session-hygiene", "logout-all")
    assert code == ExitCode.OK
    hygiene = _check(doc, "sessions.hygiene")
    assert hygiene["status"] == "pass"
    assert hygiene["evidence"]["sessions_before"]["online"] >= 1
    assert hygiene["evidence"]["sessions_after"]["online"] == 0
    assert hygiene["evidence"]["realm_not_before"] is not None
    assert hygiene["message"].startswith("logged out every session of realm hygiene and set its not-before to now")
    assert doc["notes"][0].startswith("session hygiene applied: logout-all at ")
    # The proof: the refresh token of the session that existed before is refused now.
    refresh = requests.post(
        f"{lab.primary.base_url}/realms/hygiene/protocol/openid-connect/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        auth=(setup.client_id, setup.client_secret),
        timeout=30,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    # The lab helper behind a manual "push not-before" sets exactly that value.
    admin = lab.primary.admin()
    pushed = admin.push_not_before(setup.realm, hygiene_not_before(hygiene) + 5)
    assert admin.get_realm(setup.realm)["notBefore"] == pushed


def hygiene_not_before(check: dict) -> int:
    from scripts.timeutil import parse_time

    return int(parse_time("realm_not_before", check["evidence"]["realm_not_before"]).timestamp())


# -- a standby on a restored copy of the database ---------------------------------------
@pytest.fixture(scope="module")
def standby(keycloak_lab: KeycloakLab):
    """Baseline on the primary, copy (restore) its database, start a standby on the copy."""
    lab = keycloak_lab
    setup = lab.make_realm("standby")
    path = _baseline(lab, setup)
    lab.copy_database("keycloak", "keycloak_restored")
    # A long pre-shutdown phase: after SIGTERM the standby says "not ready" while still serving.
    server = lab.start_keycloak("standby", dbname="keycloak_restored", extra_env={"KC_SHUTDOWN_DELAY": "120s"})
    yield setup, path, server
    server.kill()


def _verify_standby(lab: KeycloakLab, standby, *extra: str, baseline: Path | None = None) -> tuple[int, dict]:
    setup, path, server = standby
    return _verify(
        lab,
        setup,
        "--baseline",
        str(baseline or path),
        *extra,
        base_url=server.base_url,
        mgmt_url=server.mgmt_url,
        dsn=lab.dsn("keycloak_restored"),
    )


def test_verify_passes_on_the_restored_standby(keycloak_lab: KeycloakLab, standby):
    code, doc = _verify_standby(keycloak_lab, standby)
    assert code == ExitCode.OK, _failed(doc)
    assert {n: s for n, s in _statuses(doc).items() if s != "pass"} == dict.fromkeys(ALWAYS_SKIPPED_HERE, "skipped")


def test_a_standby_restored_from_before_the_baseline_shows_the_data_loss(keycloak_lab: KeycloakLab, standby):
    lab = keycloak_lab
    setup, _path, _server = standby
    lab.primary.admin().create_user(setup.realm, "late-user", password="late-user-pass")
    later = lab.workspace / "standby-later.baseline.json"
    assert _cli("baseline", *_common(lab, setup), "--out", str(later), "--quiet")[0] == ExitCode.OK
    code, doc = _verify_standby(lab, standby, baseline=later)
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["db.users", "db.newest_event"]
    assert _check(doc, "db.users")["message"] == "2 users, fewer than the baseline's 3"
    assert _check(doc, "db.newest_event")["message"].endswith(": events the baseline saw are gone")
    assert _check(doc, "db.newest_event")["evidence"]["missing_window_s"] > 0


def test_readiness_down_while_everything_else_answers(keycloak_lab: KeycloakLab, standby):
    lab = keycloak_lab
    setup, _path, server = standby
    server.process.popen.send_signal(15)  # kc.sh forwards SIGTERM: the pre-shutdown phase starts
    deadline = time.monotonic() + 60
    while requests.get(f"{server.mgmt_url}/health/ready", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "the standby never reported 'not ready'"
        time.sleep(0.2)
    code, doc = _verify_standby(lab, standby)
    assert code == ExitCode.CHECK_FAILED
    assert _failed(doc) == ["readiness"]
    readiness = _check(doc, "readiness")
    assert readiness["message"] == (
        f"{server.mgmt_url}/health/ready is not ready: HTTP 503, status DOWN (Graceful Shutdown)"
    )
    assert readiness["evidence"]["checks"]["Graceful Shutdown"] == "DOWN"
    assert setup.realm == "standby"
