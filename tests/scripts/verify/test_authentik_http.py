"""verify/baseline for authentik against a fake serving authentik's documented endpoints.

authentik cannot run here (see tests/fakes/authentik.py); the database side is
tested with real PostgreSQL in tests/integration/verify/test_authentik_db.py.
"""

from __future__ import annotations

import json

from scripts.errors import ExitCode
from tests.fakes.authentik import FakeAuthentik, KeyPair
from tests.scripts.verify.conftest import check, run_cli, run_json, statuses

HTTP_CHECKS = ("readiness", "issuer", "jwks.signing_keys", "token.signature", "token.issuer")


def _args(fake: FakeAuthentik, secret_file, *extra: str) -> list[str]:
    return [
        "verify",
        "--idp",
        "authentik",
        "--base-url",
        fake.url,
        "--app",
        fake.slug,
        "--client-id",
        fake.client_id,
        "--client-secret-file",
        str(secret_file),
        *extra,
    ]


def test_healthy_authentik_passes_every_http_check_and_exits_0(fake, secret_file):
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    assert code == ExitCode.OK
    got = statuses(doc)
    assert {name: got[name] for name in HTTP_CHECKS} == dict.fromkeys(HTTP_CHECKS, "pass")
    assert got["jwks.baseline_overlap"] == "skipped"
    assert got["db.connect"] == "skipped"
    assert got["db.brands"] == "skipped" and got["db.applications"] == "skipped"
    assert check(doc, "issuer")["message"] == f"issuer is {fake.issuer}"
    assert (
        check(doc, "token.signature")["message"]
        == f"signed by {fake.signing_key.kid} (RS256), verified against the JWKS"
    )
    assert (
        check(doc, "token.signature")["evidence"]["token_endpoint"] == "https://auth.example.test/application/o/token/"
    )
    # The token went to the base URL, not to the public host in the discovery document.
    assert check(doc, "token.signature")["evidence"]["url"] == f"{fake.url}/application/o/token/"


def test_the_client_secret_is_never_printed(fake, secret_file):
    fake.client_secret = "s3cret-that-must-not-leak"
    secret_file.write_text(fake.client_secret)
    code, out, err = run_cli(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    code_json, out_json, _ = run_cli(*_args(fake, secret_file, "--expected-issuer", fake.issuer, "--json"))
    assert code == code_json == ExitCode.OK
    for text in (out, err, out_json):
        assert "s3cret-that-must-not-leak" not in text
    # Tokens are credentials too: evidence names the key and claims, never the token.
    assert all(token not in out_json for token in fake.issued)


def test_readiness_down_fails_only_readiness(fake, secret_file):
    fake.ready = False
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "readiness") == {
        "name": "readiness",
        "status": "FAIL",
        "message": f"{fake.url}/-/health/ready/ is not ready: HTTP 503",
        "evidence": {
            "url": f"{fake.url}/-/health/ready/",
            "http_status": 503,
            "elapsed_ms": check(doc, "readiness")["evidence"]["elapsed_ms"],
        },
    }
    got = statuses(doc)
    assert [n for n in HTTP_CHECKS if got[n] != "pass"] == ["readiness"]


def test_another_hostname_fails_issuer_and_token_issuer(fake, secret_file):
    expected = fake.issuer
    fake.public_url = "https://auth-dr.example.test"
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", expected))
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "issuer")["message"] == (
        "issuer is 'https://auth-dr.example.test/application/o/grafana/', "
        "expected 'https://auth.example.test/application/o/grafana/'"
    )
    assert check(doc, "token.issuer")["message"] == (
        "token iss is 'https://auth-dr.example.test/application/o/grafana/', "
        "expected 'https://auth.example.test/application/o/grafana/'"
    )
    got = statuses(doc)
    assert got["token.signature"] == "pass" and got["jwks.signing_keys"] == "pass"


def test_a_trailing_slash_is_a_different_issuer(fake, secret_file):
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer.rstrip("/")))
    assert code == ExitCode.CHECK_FAILED
    assert statuses(doc)["issuer"] == "FAIL"


def test_keys_rotated_away_after_the_baseline_fail_the_overlap(fake, secret_file, tmp_path):
    baseline = tmp_path / "baseline.json"
    code, _out, _err = run_cli(
        "baseline",
        "--idp",
        "authentik",
        "--base-url",
        fake.url,
        "--app",
        fake.slug,
        "--client-id",
        fake.client_id,
        "--client-secret-file",
        str(secret_file),
        "--out",
        str(baseline),
    )
    assert code == ExitCode.OK
    old_kid = fake.signing_key.kid
    assert json.loads(baseline.read_text())["jwks"]["token_kid"] == old_kid
    fake.signing_key = KeyPair.generate("rotated")
    code, doc = run_json(*_args(fake, secret_file, "--baseline", str(baseline)))
    assert code == ExitCode.CHECK_FAILED
    overlap = check(doc, "jwks.baseline_overlap")
    assert overlap["status"] == "FAIL"
    assert overlap["message"] == (
        "none of the baseline's 1 signing keys is published any more: tokens issued "
        "before the restore no longer validate"
    )
    assert overlap["evidence"]["missing"] == [old_kid]
    assert overlap["evidence"]["new"] == [fake.signing_key.kid]
    got = statuses(doc)
    assert got["token.signature"] == "pass" and got["issuer"] == "pass" and got["jwks.signing_keys"] == "pass"


def test_the_key_that_signed_tokens_must_survive_even_if_others_do(fake, secret_file, tmp_path):
    old = fake.signing_key
    other = KeyPair.generate("second")
    fake.published = [old, other]
    baseline = tmp_path / "baseline.json"
    assert (
        run_cli(
            "baseline",
            "--idp",
            "authentik",
            "--base-url",
            fake.url,
            "--app",
            fake.slug,
            "--client-id",
            fake.client_id,
            "--client-secret-file",
            str(secret_file),
            "--out",
            str(baseline),
        )[0]
        == ExitCode.OK
    )
    fake.published = [other]
    fake.signing_key = other
    code, doc = run_json(*_args(fake, secret_file, "--baseline", str(baseline)))
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "jwks.baseline_overlap")["message"] == (
        f"the key that signed tokens at baseline time ({old.kid}) is no longer published"
    )


def test_token_signed_by_a_foreign_key_under_the_published_kid_fails_the_signature(fake, secret_file):
    fake.token_key = KeyPair.generate("attacker")
    fake.token_kid = fake.signing_key.kid
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "token.signature")["message"] == (
        f"the token's signature does not verify against the JWKS key {fake.signing_key.kid!r}"
    )
    assert check(doc, "token.issuer")["message"] == "no verified token to read 'iss' from"
    got = statuses(doc)
    assert got["issuer"] == "pass" and got["jwks.signing_keys"] == "pass"


def test_token_signed_by_an_unpublished_key_fails_the_signature(fake, secret_file):
    fake.token_key = KeyPair.generate("elsewhere")
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "token.signature")["message"] == (
        f"the token is signed with key {fake.token_key.kid!r}, which the JWKS does not publish"
    )


def test_an_empty_jwks_fails_signing_keys_and_the_token(fake, secret_file):
    fake.published = []
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "jwks.signing_keys")["message"] == "the JWKS has no signing key"
    assert check(doc, "token.signature")["message"].startswith("no usable key in the JWKS")


def test_a_wrong_client_secret_fails_the_token_with_the_oauth_error(fake, secret_file):
    secret_file.write_text("not-the-secret")
    code, doc = run_json(*_args(fake, secret_file, "--expected-issuer", fake.issuer))
    assert code == ExitCode.CHECK_FAILED
    assert (
        check(doc, "token.signature")["message"]
        == "no client-credentials token for grafana-client: HTTP 400 (invalid_grant)"
    )


def test_an_unknown_application_slug_fails_the_issuer_with_404(fake, secret_file):
    code, doc = run_json(
        "verify",
        "--idp",
        "authentik",
        "--base-url",
        fake.url,
        "--app",
        "nope",
        "--expected-issuer",
        fake.issuer,
    )
    assert code == ExitCode.CHECK_FAILED
    assert check(doc, "issuer")["message"] == (
        f"no discovery document at {fake.url}/application/o/nope/.well-known/openid-configuration: HTTP 404"
    )


def test_a_server_that_is_gone_gives_failed_checks_not_a_crash(fake, secret_file):
    url = fake.url
    fake.stop()
    code, doc = run_json(
        "verify",
        "--idp",
        "authentik",
        "--base-url",
        url,
        "--app",
        "grafana",
        "--client-id",
        "grafana-client",
        "--client-secret-file",
        str(secret_file),
        "--expected-issuer",
        "https://auth.example.test/application/o/grafana/",
    )
    assert code == ExitCode.CHECK_FAILED
    assert "error" not in doc
    assert check(doc, "readiness")["message"] == f"{url}/-/health/ready/ is not ready: connection refused"
    assert (
        check(doc, "token.signature")["message"] == "no client-credentials token for grafana-client: connection refused"
    )


def test_the_app_version_comes_from_the_api_when_the_provider_allows_it(fake, secret_file):
    from scripts.verify import adapter_for
    from scripts.verify.http import Http
    from scripts.verify.model import Target

    target = Target("authentik", fake.url, app=fake.slug)
    adapter = adapter_for("authentik")
    http = Http(5)

    def token() -> str:
        result = http.post_form(
            f"{fake.url}/application/o/token/",
            {"grant_type": "client_credentials", "scope": adapter.token_scope},
            auth=(fake.client_id, fake.client_secret),
        )
        return result.body["access_token"]

    assert adapter.app_reported_version(http, target, token()) == (
        None,
        "the token may not read /api/v3/admin/version/ (the provider must allow the goauthentik.io/api scope)",
    )
    fake.allowed_scopes = (*fake.allowed_scopes, "goauthentik.io/api")
    assert adapter.app_reported_version(http, target, token()) == (
        "2025.10.1",
        "reported by /api/v3/admin/version/",
    )
