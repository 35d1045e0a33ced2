"""``failover --baseline``: the DR site is validated with ``verify`` before traffic is cut.

Driven like test_failover.py (moto in-process, the fake Kubernetes adapter, the same fixtures); the
DR site is tests/fakes/keycloak.py, a Keycloak stand-in over real HTTP that is ready only when the
fake cluster runs the standby against the promoted DR database. The baseline is captured from a
"production" stand-in with :func:`scripts.verify.capture_baseline`, as an operator would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.failover.probe import ValidationContext
from scripts.failover.validation import failover_validator, management_url, to_validation_checks
from scripts.polling import FakeClock
from scripts.report import Check
from scripts.sandbox.command import dr_site_ready
from scripts.verify import (
    BaselineParams,
    ClientCredentials,
    Target,
    capture_baseline,
)
from tests.fakes.keycloak import FakeKeycloak, generate_keys
from tests.scripts.failover_world import health_path, primary_down, run_failover
from tests.scripts.world import fresh_session

ISSUER = "https://sso.example.com/realms/company"
ROUTE53_CHANGE = "route53:UpdateHealthCheck"


@pytest.fixture(scope="module")
def keys():
    """Production's signing key, and a key production never had."""
    return generate_keys(2)


@pytest.fixture
def baseline_file(tmp_path: Path, keys) -> Path:
    """A baseline of production (issuer, key IDs, the key that signs tokens), captured over HTTP."""
    with FakeKeycloak(realm="company", keys=[keys[0]]) as production:
        baseline = capture_baseline(
            BaselineParams(
                Target("keycloak", production.url, realm="company"),
                ClientCredentials(production.client_id, production.client_secret),
            )
        )
    assert baseline.issuer == ISSUER and baseline.token_kid == keys[0].kid
    path = tmp_path / "baseline-prod.json"
    baseline.save(path)
    return path


@pytest.fixture
def dr_site(world, standby, keys) -> Iterator[FakeKeycloak]:
    """The DR Keycloak, on the same database as production (same keys), behind drHealthHostname."""
    site = FakeKeycloak(
        realm="company",
        keys=[keys[0]],
        ready=lambda: dr_site_ready(standby.state, world.outputs, fresh_session()),
    )
    with site:
        world.outputs["dns"]["drHealthHostname"] = site.hostport
        world.outputs_path.write_text(json.dumps(world.outputs, indent=2))
        yield site


@pytest.fixture
def secret_file(tmp_path: Path, dr_site: FakeKeycloak) -> Path:
    path = tmp_path / "dr-verifier.secret"
    path.write_text(dr_site.client_secret + "\n")
    path.chmod(0o600)
    return path


def with_baseline(baseline_file: Path, secret_file: Path | None = None, client_id: str = "dr-verifier") -> list[str]:
    extra = ["--baseline", str(baseline_file)]
    if secret_file is not None:
        extra += ["--client-id", client_id, "--client-secret-file", str(secret_file)]
    return extra


def statuses(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"] if c["name"].startswith("validate.")}


def assert_secret_nowhere(secret: str, result) -> None:
    """Not on stdout/stderr, not in the text rendering, not in state.json/timeline.json/postmortem.md."""
    assert secret not in result.stdout and secret not in result.stderr
    assert secret not in result.report.render_text()
    files = list(Path(".idp-dr").rglob("*"))
    assert any(f.name == "timeline.json" for f in files)
    for f in files:
        if f.is_file():
            assert secret not in f.read_text(), f


def test_failover_with_a_baseline_validates_with_verify_and_cuts_traffic(
    world, standby, dr_site, keys, baseline_file, secret_file
):
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file, secret_file))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert {s["name"]: s["status"] for s in doc["steps"]}["validate"] == "ok"
    assert statuses(doc) == {
        "validate.dr.readiness": "pass",
        "validate.dr.verify.readiness": "pass",
        "validate.dr.verify.issuer": "pass",
        "validate.dr.verify.jwks.signing_keys": "pass",
        "validate.dr.verify.jwks.baseline_overlap": "pass",
        "validate.dr.verify.token.signature": "pass",
        "validate.dr.verify.token.issuer": "pass",
        "validate.dr.verify.db": "skipped",
    }
    checks = {c["name"]: c for c in doc["checks"]}
    overlap = checks["validate.dr.verify.jwks.baseline_overlap"]
    assert overlap["message"] == (
        f"1 of the baseline's 1 signing keys still published, including the one that signed tokens ({keys[0].kid})"
    )
    assert checks["validate.dr.verify.readiness"]["evidence"]["url"] == f"http://{dr_site.hostport}/health/ready"
    assert checks["validate.dr.verify.token.signature"]["evidence"]["client_id"] == "dr-verifier"
    # verify really asked the DR site for the keys and a token
    assert "/realms/company/protocol/openid-connect/token" in dr_site.requests
    assert health_path(world) == "/idp-dr/failed-over"
    assert ROUTE53_CHANGE in world.recorder.mutating()
    assert_secret_nowhere(dr_site.client_secret, result)


def test_a_dr_site_with_another_issuer_is_not_given_the_traffic(world, standby, dr_site, baseline_file):
    dr_site.served_issuer = "https://dr-sso.example.com/realms/company"  # the standby's own hostname
    primary_down(world)
    first = run_failover(world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file))
    assert first.code == 1
    assert first.error_line == (
        "validation failed, traffic was NOT cut: dr.verify.issuer: issuer is "
        "'https://dr-sso.example.com/realms/company', expected 'https://sso.example.com/realms/company'"
    )
    assert {s["name"]: s["status"] for s in first.json()["steps"]}["validate"] == "failed"
    # without --client-id the token checks are skipped, shown as skipped, and block nothing
    assert statuses(first.json())["validate.dr.verify.token.signature"] == "skipped"
    assert health_path(world) == "/health/ready"
    assert ROUTE53_CHANGE not in world.recorder.mutating()

    dr_site.served_issuer = None  # fixed: the standby claims the production issuer again
    second = run_failover(world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file))
    assert second.code == 0, second.stderr
    steps = {s["name"]: s["status"] for s in second.json()["steps"]}
    assert steps["validate"] == "resumed" and steps["cut-traffic"] == "ok"
    assert health_path(world) == "/idp-dr/failed-over"


def test_a_dr_site_whose_keys_do_not_overlap_the_baseline_is_not_given_the_traffic(
    world, standby, dr_site, keys, baseline_file, secret_file
):
    dr_site.keys = [keys[1]]  # e.g. a standby on a fresh database: new keys, valid tokens of its own
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file, secret_file))
    assert result.code == 1
    assert result.error_line == (
        "validation failed, traffic was NOT cut: dr.verify.jwks.baseline_overlap: none of the "
        "baseline's 1 signing keys is published any more: tokens issued before the restore no longer validate"
    )
    doc = result.json()
    assert statuses(doc)["validate.dr.verify.token.signature"] == "pass"  # its own tokens validate
    assert health_path(world) == "/health/ready"
    assert ROUTE53_CHANGE not in world.recorder.mutating()
    state = world.incident_state()
    assert state["steps"]["validate"]["status"] == "failed" and "cut-traffic" not in state["steps"]


def test_a_rejected_client_fails_the_token_check_and_the_secret_stays_out_of_every_output(
    world, standby, dr_site, baseline_file, tmp_path
):
    wrong = tmp_path / "stale.secret"
    wrong.write_text("stale-secret-from-last-year-4711\n")
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file, wrong))
    assert result.code == 1
    assert result.error_line == (
        "validation failed, traffic was NOT cut: dr.verify.token.signature: no client-credentials token "
        "for dr-verifier: HTTP 401 (unauthorized_client); dr.verify.token.issuer: no verified token to "
        "read 'iss' from"
    )
    assert health_path(world) == "/health/ready"
    assert_secret_nowhere("stale-secret-from-last-year-4711", result)


def test_the_health_hostname_alone_serves_no_jwks_so_dr_base_url_names_where_the_idp_is(
    world, standby, sites, keys, baseline_file
):
    """The stack's health ingress routes only healthPath and the discovery path (components/standby/component.py),
    as the stand-in site does: the JWKS must be reached elsewhere (a port-forward, an internal LB)."""
    _, health_site = sites
    primary_down(world)
    first = run_failover(world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file))
    assert first.code == 1
    assert first.error_line.startswith(
        "validation failed, traffic was NOT cut: dr.verify.jwks.signing_keys: no JWKS at "
        f"http://{health_site.hostport}/realms/company/protocol/openid-connect/certs: HTTP 404; "
        "dr.verify.jwks.baseline_overlap: no JWKS to compare with the baseline"
    )
    assert health_path(world) == "/health/ready"

    with FakeKeycloak(realm="company", keys=[keys[0]]) as forwarded:
        base_url = forwarded.url  # e.g. kubectl port-forward to the DR Keycloak Service
        second = run_failover(
            world, standby, "--yes", "--dns-wait", "0", *with_baseline(baseline_file), "--dr-base-url", base_url
        )
    assert second.code == 0, second.stderr
    checks = {c["name"]: c for c in second.json()["checks"]}
    # readiness still comes from the health hostname (what Route 53 probes), the keys from the base URL
    assert checks["validate.dr.verify.readiness"]["evidence"]["url"] == f"http://{health_site.hostport}/health/ready"
    assert checks["validate.dr.verify.jwks.signing_keys"]["evidence"]["url"] == (
        f"{base_url}/realms/company/protocol/openid-connect/certs"
    )
    assert health_path(world) == "/idp-dr/failed-over"


# -- refused before anything changes ------------------------------------------------------------
def _bad_baselines(tmp_path: Path, baseline_file: Path) -> dict[str, tuple[Path, str]]:
    doc = json.loads(baseline_file.read_text())
    cases = {
        "missing": (tmp_path / "nope.json", "expected a readable baseline file"),
        "not-json": (tmp_path / "truncated.json", "expected JSON (Expecting value: line 1 column 1 (char 0))"),
        "not-a-baseline": (
            tmp_path / "outputs-by-mistake.json",
            "a baseline file written by 'python -m scripts baseline' (idp-dr-baseline v1)",
        ),
        "another-issuer": (
            tmp_path / "staging.json",
            "a baseline captured from the stack's issuer 'https://sso.example.com/realms/company'; this file's "
            "issuer is 'https://sso.staging.example.com/realms/company'",
        ),
        "another-idp": (
            tmp_path / "authentik.json",
            "a baseline of this stack's identity provider (keycloak); this file is a baseline of authentik",
        ),
    }
    cases["not-json"][0].write_text("")
    cases["not-a-baseline"][0].write_text(json.dumps({"issuer": ISSUER}))
    cases["another-issuer"][0].write_text(
        json.dumps({**doc, "issuer": "https://sso.staging.example.com/realms/company"})
    )
    authentik = {k: v for k, v in doc.items() if k != "realm"}
    cases["another-idp"][0].write_text(json.dumps({**authentik, "idp": "authentik", "app": "portal"}))
    return cases


@pytest.mark.parametrize("case", ["missing", "not-json", "not-a-baseline", "another-issuer", "another-idp"])
def test_a_bad_baseline_is_refused_before_any_aws_call(world, standby, baseline_file, tmp_path, case):
    path, allowed = _bad_baselines(tmp_path, baseline_file)[case]
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--baseline", str(path))
    assert result.code == 2
    assert result.error_line == f"invalid --baseline {str(path)!r}: {allowed}"
    assert world.recorder.calls == []  # not even a read: nothing was contacted
    assert [c for c in standby.calls if c[0] != "get_secret_data"] == []
    assert not Path(".idp-dr").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--client-id", "dr-verifier"],
            "invalid --client-id 'dr-verifier': only used with --baseline (the default readiness + issuer "
            "probe requests no token and probes dns.drHealthHostname)",
        ),
        (
            ["--dr-base-url", "http://127.0.0.1:8080"],
            "invalid --dr-base-url 'http://127.0.0.1:8080': only used with --baseline (the default readiness "
            "+ issuer probe requests no token and probes dns.drHealthHostname)",
        ),
        (
            ["--baseline", "{baseline}", "--client-id", "dr-verifier"],
            "invalid --client-secret-file None: a file holding the client's secret (required with --client-id)",
        ),
        (
            ["--baseline", "{baseline}", "--client-id", "dr-verifier", "--client-secret-file", "{tmp}/none"],
            "invalid --client-secret-file '{tmp}/none': a readable file holding the secret (no such file)",
        ),
        (
            ["--baseline", "{baseline}", "--dr-base-url", "10.1.4.20:8080"],
            "invalid --dr-base-url '10.1.4.20:8080': an http:// or https:// URL where this machine reaches the "
            "DR IdP, e.g. http://127.0.0.1:8080 (a port-forward)",
        ),
    ],
)
def test_validation_flags_are_checked_before_any_aws_call(world, standby, baseline_file, tmp_path, extra, message):
    fill = {"baseline": str(baseline_file), "tmp": str(tmp_path)}
    result = run_failover(world, standby, "--yes", *[a.format(**fill) for a in extra])
    assert result.code == 2
    assert result.error_line == message.format(**fill)
    assert world.recorder.calls == []


def test_dry_run_with_a_baseline_reads_it_and_changes_nothing(world, standby, baseline_file):
    primary_down(world)
    result = run_failover(world, standby, "--dry-run", "--baseline", str(baseline_file))
    assert result.code == 0, result.stderr
    assert world.recorder.mutating() == []


# -- the validator on its own ----------------------------------------------------------------------
def test_a_dr_site_that_never_gets_ready_is_not_verified(keys, baseline_file):
    with FakeKeycloak(realm="company", keys=[keys[0]], ready=False) as site:
        validator = failover_validator(baseline_file)
        clock = FakeClock()
        checks = validator(
            ValidationContext(
                site="dr",
                host=site.hostport,
                health_path="/health/ready",
                issuer=ISSUER,
                scheme="http",
                timeout_s=30,
                interval_s=5,
                clock=clock,
            )
        )
    assert [(c.name, c.ok, c.message) for c in checks][1:] == [("dr.verify", None, "not run: the site is not ready")]
    assert checks[0].name == "dr.readiness" and checks[0].ok is False
    assert checks[0].evidence["attempts"] == 7 and sum(clock.sleeps) == 30
    assert set(site.requests) == {"/health/ready"}  # no discovery, no token request


def test_skipped_critical_checks_fail_and_database_checks_are_folded():
    verify_checks = [
        Check("readiness", None, "not checked"),
        Check("issuer", True, "issuer is x"),
        Check("jwks.signing_keys", True, "1 signing key published", {"message": "collides", "url": "u"}),
        Check("token.signature", None, "no --client-id given: no token requested"),
        Check("db.connect", None, "no --db-dsn: database checks not run"),
        Check("db.users", None, "no --db-dsn"),
        Check("sessions.hygiene", None, "off (default)"),
    ]
    out = to_validation_checks(
        verify_checks, site="dr", critical=("readiness", "issuer", "jwks.signing_keys", "jwks.baseline_overlap")
    )
    assert [(c.name, c.ok, c.message) for c in out] == [
        ("dr.verify.readiness", False, "skipped, and failover requires it: not checked"),
        ("dr.verify.issuer", True, "issuer is x"),
        ("dr.verify.jwks.signing_keys", True, "1 signing key published"),
        ("dr.verify.token.signature", None, "no --client-id given: no token requested"),
        ("dr.verify.jwks.baseline_overlap", False, "not recorded by verify"),
        (
            "dr.verify.db",
            None,
            "not run here (no database connection): run 'python -m scripts verify --baseline FILE --db-dsn "
            "...' against the site's database for schema, keys, counts and the newest event",
        ),
    ]
    assert out[2].evidence == {"verify_message": "collides", "url": "u", "verify_status": "pass"}
    assert out[-1].evidence == {"checks": ["db.connect", "db.users", "sessions.hygiene"]}
    # with client credentials the token checks are critical: a skip cannot pass
    with_client = to_validation_checks(verify_checks[3:4], site="dr", critical=("token.signature",))
    assert with_client[0].ok is False


@pytest.mark.parametrize(
    ("idp", "health", "expected"),
    [
        ("keycloak", "/health/ready", "https://dr-sso.example.com"),
        ("keycloak", "/auth/health/ready", "https://dr-sso.example.com/auth"),
        ("keycloak", "/lb-health", None),
        ("authentik", "/-/health/ready/", "https://dr-sso.example.com"),
    ],
)
def test_the_management_url_puts_readiness_on_the_route53_health_path(idp, health, expected):
    target = Target(idp, "http://127.0.0.1:8080", **({"realm": "main"} if idp == "keycloak" else {"app": "portal"}))
    assert management_url(target, "https://dr-sso.example.com", health) == expected


def test_failover_help_lists_the_validation_flags(capsys):
    assert main(["failover", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--baseline FILE", "--client-id ID", "--client-secret-file FILE", "--dr-base-url URL"):
        assert flag in text
