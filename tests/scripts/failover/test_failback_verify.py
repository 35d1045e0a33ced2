"""``failback --baseline``: the rebuilt primary is checked with ``verify`` before traffic goes back.

Driven like test_failback.py (moto in-process, the fake Kubernetes adapter). The primary site is
tests/fakes/keycloak.py, a Keycloak stand-in over real HTTP behind ``dns.primaryHealthHostname``.
The baseline is captured from the DR site just before failing back, as the runbook says: tokens
issued during the failover must still validate after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.verify import BaselineParams, ClientCredentials, Target, capture_baseline
from tests.fakes.keycloak import FakeKeycloak, generate_keys
from tests.scripts.failover.test_failback import failback, failed_over, rebuild_primary
from tests.scripts.failover_world import health_path

failed_over = failed_over  # the fixture, re-exported for this module's tests
ROUTE53_CHANGE = "route53:UpdateHealthCheck"


@pytest.fixture(scope="module")
def keys():
    """The key the DR site signs with (restored from production), and one nobody has seen."""
    return generate_keys(2)


@pytest.fixture
def dr_baseline(tmp_path: Path, keys) -> Path:
    with FakeKeycloak(realm="company", keys=[keys[0]]) as dr_site:
        baseline = capture_baseline(
            BaselineParams(
                Target("keycloak", dr_site.url, realm="company"),
                ClientCredentials(dr_site.client_id, dr_site.client_secret),
            )
        )
    path = tmp_path / "baseline-dr.json"
    baseline.save(path)
    return path


@pytest.fixture
def primary_site(world, keys) -> Iterator[FakeKeycloak]:
    """The rebuilt primary Keycloak, on a database rebuilt from the DR data (so the same keys)."""
    with FakeKeycloak(realm="company", keys=[keys[0]]) as site:
        world.outputs["dns"]["primaryHealthHostname"] = site.hostport
        world.outputs_path.write_text(json.dumps(world.outputs, indent=2))
        yield site


@pytest.fixture
def secret_file(tmp_path: Path, primary_site: FakeKeycloak) -> Path:
    path = tmp_path / "verifier.secret"
    path.write_text(primary_site.client_secret + "\n")
    path.chmod(0o600)
    return path


def primary_app(result) -> dict:
    return next(c for c in result.json()["checks"] if c["name"] == "failback.primary-app")


def test_failback_with_a_baseline_verifies_the_primary_and_restores_the_health_path(
    world, failed_over, primary_site, dr_baseline, secret_file
):
    rebuild_primary(world)
    result = failback(
        world,
        failed_over,
        "--yes",
        "--dns-wait",
        "0",
        "--baseline",
        str(dr_baseline),
        "--client-id",
        "dr-verifier",
        "--client-secret-file",
        str(secret_file),
    )
    assert result.code == 0, result.stderr
    app = primary_app(result)
    assert app["status"] == "pass"
    assert app["evidence"]["checks"] == {
        "primary.readiness": "pass",
        "primary.verify.readiness": "pass",
        "primary.verify.issuer": "pass",
        "primary.verify.jwks.signing_keys": "pass",
        "primary.verify.jwks.baseline_overlap": "pass",
        "primary.verify.token.signature": "pass",
        "primary.verify.token.issuer": "pass",
        "primary.verify.db": "skipped",
    }
    # verify really asked the primary for the keys and a token
    assert "/realms/company/protocol/openid-connect/token" in primary_site.requests
    assert health_path(world) == "/health/ready"
    assert world.recorder.mutating() == [ROUTE53_CHANGE]
    assert primary_site.client_secret not in result.stdout + result.stderr


def test_a_primary_rebuilt_with_other_keys_is_refused(world, failed_over, primary_site, keys, dr_baseline):
    """E.g. rebuilt from an empty database: it is ready and serves the issuer, but every token issued
    before and during the failover would stop validating."""
    primary_site.keys = [keys[1]]
    rebuild_primary(world)
    result = failback(world, failed_over, "--yes", "--dns-wait", "0", "--baseline", str(dr_baseline))
    assert result.code == 3
    assert result.error_line == (
        "refusing to fail back: failback.primary-app: primary.verify.jwks.baseline_overlap: none of the "
        "baseline's 1 signing keys is published any more: tokens issued before the restore no longer validate"
    )
    assert primary_app(result)["evidence"]["checks"]["primary.verify.issuer"] == "pass"
    assert world.recorder.mutating() == []
    assert health_path(world) == "/idp-dr/failed-over"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--client-id", "dr-verifier"],
            "invalid --client-id 'dr-verifier': only used with --baseline (the default readiness + issuer "
            "probe requests no token and probes dns.primaryHealthHostname)",
        ),
        (
            ["--primary-base-url", "http://127.0.0.1:8080"],
            "invalid --primary-base-url 'http://127.0.0.1:8080': only used with --baseline (the default "
            "readiness + issuer probe requests no token and probes dns.primaryHealthHostname)",
        ),
        (
            ["--baseline", "{baseline}", "--primary-base-url", "10.0.4.20:8080"],
            "invalid --primary-base-url '10.0.4.20:8080': an http:// or https:// URL where this machine reaches "
            "the primary IdP, e.g. http://127.0.0.1:8080 (a port-forward)",
        ),
        (
            ["--baseline", "{tmp}/missing.json"],
            "invalid --baseline '{tmp}/missing.json': expected a readable baseline file",
        ),
    ],
)
def test_validation_flags_are_checked_before_any_aws_call(world, failed_over, dr_baseline, tmp_path, extra, message):
    fill = {"baseline": str(dr_baseline), "tmp": str(tmp_path)}
    result = failback(world, failed_over, "--yes", *[a.format(**fill) for a in extra])
    assert result.code == 2
    assert result.error_line == message.format(**fill)
    assert world.recorder.calls == []
    assert health_path(world) == "/idp-dr/failed-over"


def test_failback_help_lists_the_validation_flags(capsys):
    assert main(["failback", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--baseline FILE", "--client-id ID", "--client-secret-file FILE", "--primary-base-url URL"):
        assert flag in text
