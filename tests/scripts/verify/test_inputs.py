"""Bad input to baseline/verify: exit 2, the exact message, and nothing contacted."""

from __future__ import annotations

import json

import pytest
from psycopg.conninfo import conninfo_to_dict

from contract.tls import RDS_CA_BUNDLE
from scripts.errors import ExitCode, InputError
from scripts.verify import Baseline, DbParams, Target
from tests.scripts.verify.conftest import run_cli

ISSUER = "https://auth.example.test/application/o/grafana/"


def _verify(fake, *extra: str) -> list[str]:
    return ["verify", "--idp", "authentik", "--base-url", fake.url, *extra]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--app", "grafana"],
            "invalid --expected-issuer None: the issuer production tokens carry, e.g. "
            "https://sso.example.com/realms/prod (or pass --baseline FILE)",
        ),
        ([], "invalid --app None: an authentik application slug (required with --idp authentik)"),
        (
            ["--app", "grafana", "--realm", "demo", "--expected-issuer", ISSUER],
            "invalid --realm 'demo': not used with --idp authentik; use --app",
        ),
        (
            ["--app", "grafana", "--expected-issuer", ISSUER, "--client-id", "x"],
            "invalid --client-secret-file None: a file holding the client's secret (required with --client-id)",
        ),
        (
            ["--app", "grafana", "--expected-issuer", ISSUER, "--session-hygiene", "logout-all"],
            "invalid --session-hygiene 'logout-all': one of off, clear-sessions for authentik",
        ),
        (
            ["--app", "grafana", "--expected-issuer", ISSUER, "--session-hygiene", "clear-sessions"],
            "invalid --session-hygiene 'clear-sessions': clear-sessions deletes sessions in the database: "
            "also pass --db-dsn",
        ),
        (
            ["--app", "grafana", "--expected-issuer", ISSUER, "--db-sslmode", "require"],
            "invalid --db-sslmode 'require': only meaningful together with --db-dsn",
        ),
        (
            [
                "--app",
                "grafana",
                "--expected-issuer",
                ISSUER,
                "--db-dsn",
                "postgresql://u@h/db",
                "--db-sslmode",
                "on",
            ],
            "invalid --db-sslmode 'on': one of disable, allow, prefer, require, verify-ca, verify-full",
        ),
        (
            ["--app", "grafana", "--expected-issuer", ISSUER, "--max-event-age", "0"],
            "invalid --max-event-age 0.0: a positive number of seconds",
        ),
    ],
)
def test_bad_verify_input_is_refused_before_anything_is_contacted(fake, extra, message):
    code, _out, err = run_cli(*_verify(fake, *extra))
    assert code == ExitCode.BAD_INPUT
    assert err.splitlines()[0] == f"error: {message}"
    assert fake.requests == 0


def test_unknown_idp_and_bad_url(fake):
    code, _out, err = run_cli("verify", "--idp", "okta", "--base-url", fake.url, "--expected-issuer", ISSUER)
    assert (code, err.splitlines()[0]) == (
        ExitCode.BAD_INPUT,
        "error: invalid --idp 'okta': one of keycloak, authentik",
    )
    code, _out, err = run_cli(
        "verify",
        "--idp",
        "keycloak",
        "--base-url",
        "sso.example.com",
        "--realm",
        "r",
        "--expected-issuer",
        ISSUER,
    )
    assert err.splitlines()[0] == (
        "error: invalid --base-url 'sso.example.com': an http:// or https:// URL, e.g. https://sso.example.com"
    )
    code, _out, err = run_cli("verify", "--idp", "keycloak", "--base-url", fake.url, "--expected-issuer", ISSUER)
    assert err.splitlines()[0] == "error: invalid --realm None: a realm name (required with --idp keycloak)"
    code, _out, err = run_cli(
        "verify",
        "--idp",
        "keycloak",
        "--base-url",
        fake.url,
        "--realm",
        "r",
        "--expected-issuer",
        ISSUER,
        "--session-hygiene",
        "logout-all",
    )
    assert err.splitlines()[0] == (
        "error: invalid --session-hygiene 'logout-all': logout-all calls the admin "
        "API with the client's token: also pass --client-id and --client-secret-file"
    )
    assert fake.requests == 0


def test_secret_files_that_are_missing_or_empty(fake, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    code, _out, err = run_cli(
        *_verify(
            fake,
            "--app",
            "grafana",
            "--expected-issuer",
            ISSUER,
            "--client-id",
            "c",
            "--client-secret-file",
            str(empty),
        )
    )
    assert (
        err.splitlines()[0] == f"error: invalid --client-secret-file '{empty}': a file holding the secret "
        "(this one is empty)"
    )
    code, _out, err = run_cli(
        *_verify(
            fake,
            "--app",
            "grafana",
            "--expected-issuer",
            ISSUER,
            "--client-id",
            "c",
            "--client-secret-file",
            str(tmp_path / "nope"),
        )
    )
    assert (
        err.splitlines()[0] == f"error: invalid --client-secret-file '{tmp_path / 'nope'}': a readable file "
        "holding the secret (no such file)"
    )
    assert code == ExitCode.BAD_INPUT
    assert fake.requests == 0


def test_baseline_files_that_are_not_baselines(fake, tmp_path):
    missing = tmp_path / "missing.json"
    code, _out, err = run_cli(*_verify(fake, "--app", "grafana", "--baseline", str(missing)))
    assert err.splitlines()[0] == f"error: invalid --baseline '{missing}': expected a readable baseline file"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}))
    code, _out, err = run_cli(*_verify(fake, "--app", "grafana", "--baseline", str(other)))
    assert err.splitlines()[0] == (
        f"error: invalid --baseline '{other}': a baseline file written by "
        "'python -m scripts baseline' (idp-dr-baseline v1)"
    )
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "idp-dr-baseline", "version": 2}))
    code, _out, err = run_cli(*_verify(fake, "--app", "grafana", "--baseline", str(future)))
    assert err.splitlines()[0] == (
        f"error: invalid --baseline '{future}': a baseline file written by "
        "'python -m scripts baseline' (idp-dr-baseline v1); this file is version 2"
    )
    assert err.splitlines()[1] == "hint: capture a new baseline with this version of idp-dr"
    assert code == ExitCode.BAD_INPUT
    assert fake.requests == 0


def test_a_baseline_of_another_application_is_refused(fake, tmp_path):
    from datetime import UTC, datetime

    path = tmp_path / "b.json"
    Baseline(
        idp="authentik",
        scope="other-app",
        base_url=fake.url,
        captured_at=datetime.now(UTC),
        issuer=ISSUER,
        jwks_kids=["k"],
        signing_kids=["k"],
    ).save(path)
    code, _out, err = run_cli(*_verify(fake, "--app", "grafana", "--baseline", str(path)))
    assert code == ExitCode.BAD_INPUT
    assert err.splitlines()[0] == (
        "error: invalid --baseline \"authentik app 'other-app'\": a baseline of authentik app 'grafana'"
    )
    assert fake.requests == 0


def test_baseline_round_trips_through_its_file(tmp_path):
    from datetime import UTC, datetime

    original = Baseline(
        idp="keycloak",
        scope="demo",
        base_url="http://127.0.0.1:8080",
        captured_at=datetime(2026, 11, 23, 10, 15, tzinfo=UTC),
        issuer="https://sso/realms/demo",
        jwks_kids=["a", "b"],
        signing_kids=["a"],
        token_kid="a",
        app_version="26.7.3",
        schema={"last_changeset": "x", "changesets": 3},
        counts={"realms": 2, "users": 5, "clients": 7},
        newest_event_at=datetime(2026, 11, 23, 10, 0, 1, 500000, tzinfo=UTC),
    )
    path = tmp_path / "baseline.json"
    original.save(path)
    doc = json.loads(path.read_text())
    assert (doc["format"], doc["version"], doc["realm"]) == ("idp-dr-baseline", 1, "demo")
    assert Baseline.load(path) == original


def test_db_params_never_show_the_password():
    params = DbParams("postgresql://verifier:pa55word@db.internal:6432/keycloak?sslmode=require")
    assert params.describe() == {
        "host": "db.internal",
        "port": "6432",
        "dbname": "keycloak",
        "user": "verifier",
        "sslmode": "require",
    }
    assert params.password == "pa55word"
    with pytest.raises(InputError) as info:
        DbParams("postgresql://verifier:pa55word@db.internal:notaport/keycloak?bogus=1")
    assert "pa55word" not in info.value.message
    assert info.value.message == (
        "invalid --db-dsn 'postgresql://…': expected a libpq connection string, e.g. "
        "postgresql://verifier@db.internal:5432/keycloak?sslmode=verify-full"
    )


def test_db_sslmode_overrides_the_dsn_and_a_ca_file_must_exist(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    params = DbParams("host=db user=v dbname=k sslmode=disable", sslmode="verify-full", sslrootcert=ca)
    assert "sslmode=verify-full" in params.conninfo() and f"sslrootcert={ca}" in params.conninfo()
    assert params.effective_sslmode == "verify-full"
    with pytest.raises(InputError) as info:
        DbParams("host=db", sslmode="verify-full", sslrootcert=tmp_path / "missing.pem")
    assert (
        info.value.message == f"invalid --db-sslrootcert '{tmp_path / 'missing.pem'}': expected a readable "
        "CA file (PEM)"
    )


def test_keycloak_management_url_defaults_to_port_9000_of_the_base_host():
    from scripts.verify import adapter_for

    adapter = adapter_for("keycloak")
    assert (
        adapter.readiness_url(Target("keycloak", "https://sso.example.com", realm="r"))
        == "https://sso.example.com:9000/health/ready"
    )
    assert (
        adapter.readiness_url(Target("keycloak", "http://10.0.0.5:8080/auth", realm="r"))
        == "http://10.0.0.5:9000/auth/health/ready"
    )
    assert (
        adapter.readiness_url(Target("keycloak", "http://h:8080", realm="r", mgmt_url="http://h:9999/"))
        == "http://h:9999/health/ready"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(issuer=42), "issuer"),
        (lambda d: d["jwks"].update(token_kid=["a", "b"]), "jwks.token_kid"),
        (lambda d: d["jwks"].update(kids="abc"), "jwks.kids"),
        (lambda d: d.update(counts={"users": "many"}), "counts"),
        (lambda d: d.update(idp="okta"), "idp"),
    ],
)
def test_a_crafted_baseline_with_wrong_field_types_is_refused_naming_the_field(tmp_path, change, field):
    from datetime import UTC, datetime

    path = tmp_path / "baseline.json"
    Baseline(
        idp="keycloak",
        scope="demo",
        base_url="http://127.0.0.1:8080",
        captured_at=datetime(2026, 11, 23, 10, 15, tzinfo=UTC),
        issuer="https://sso/realms/demo",
        jwks_kids=["a"],
        signing_kids=["a"],
        token_kid="a",
    ).save(path)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        Baseline.load(path)
    assert info.value.message == (
        f"invalid --baseline '{path}': a baseline file written by 'python -m scripts baseline' "
        f"(idp-dr-baseline v1); wrong type: {field}"
    )


def test_an_rds_endpoint_is_verified_with_the_shipped_ca_by_default():
    params = DbParams("postgresql://verifier@sso-db.abc123xyz.eu-west-1.rds.amazonaws.com:5432/keycloak")
    info = conninfo_to_dict(params.conninfo())
    assert info["sslmode"] == "verify-full" and info["sslrootcert"] == str(RDS_CA_BUNDLE)
    assert params.describe()["sslmode"] == "verify-full"


def test_an_explicit_sslmode_beats_the_rds_default():
    params = DbParams("postgresql://verifier@sso-db.abc123xyz.eu-west-1.rds.amazonaws.com/keycloak?sslmode=require")
    assert conninfo_to_dict(params.conninfo())["sslmode"] == "require"
    assert "sslrootcert" not in conninfo_to_dict(params.conninfo())


def test_a_non_rds_host_keeps_libpqs_default():
    params = DbParams("postgresql://verifier@db.internal/keycloak")
    assert "sslmode" not in conninfo_to_dict(params.conninfo())
    assert params.describe()["sslmode"] == "prefer"
