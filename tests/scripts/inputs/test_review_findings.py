"""The security review's hostile inputs, one named test each: refused with the exact message, before anything is
contacted (the URLs point at a closed port: a request would fail differently)."""

from __future__ import annotations

import io

import pytest

from scripts.cli import main


def _run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main([*argv, "--quiet"], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text("s3cret")
    return path


AUDIT = ["audit", "realm-config", "--base-url", "http://127.0.0.1:9", "--client-id", "auditor"]


@pytest.mark.parametrize("realm", ["../master", "..", "a/b", "company?x=1", ""])
def test_audit_refuses_a_realm_that_would_reach_another_admin_url(realm, secret_file, tmp_path):
    code, err = _run(*AUDIT, "--realm", realm, "--client-secret-file", str(secret_file),
                     "--against", str(tmp_path / "ref.json"))  # fmt: skip
    assert code == 2
    assert f"error: invalid --realm {realm!r}: a realm name: letters, digits, '_', '.', '-' (at most 255, " in err


@pytest.mark.parametrize("timeout", ["-1", "inf", "nan", "0", "301"])
def test_audit_refuses_a_timeout_that_never_ends_or_cannot_start(timeout, secret_file, tmp_path):
    code, err = _run(*AUDIT, "--realm", "company", "--client-secret-file", str(secret_file), "--timeout", timeout,
                     "--against", str(tmp_path / "ref.json"))  # fmt: skip
    assert code == 2
    assert f"error: invalid --timeout {float(timeout)!r}: seconds from 1 to 300" in err


@pytest.mark.parametrize("url", ["s3://acme-archive/../../x", "s3://acme-archive/pg/./x", "s3://acme-archive/.."])
def test_an_archive_url_with_dot_segments_is_refused(url):
    code, err = _run("restore", "dump", "--archive", url, "--db-dsn", "host=127.0.0.1 port=9 dbname=postgres",
                     "--dbname", "keycloak")  # fmt: skip
    assert code == 2
    assert (
        f"error: invalid --archive '{url}': an S3 URL such as s3://bucket/prefix (lower-case bucket name, "
        "optional prefix) without '.' or '..' segments" in err
    )


def test_an_ssm_url_with_credentials_is_refused_without_echoing_them():
    code, err = _run("failover", "--stack-outputs", "ssm://admin:hunter2@eu-central-1/idp-dr/sso/stack-outputs")
    assert code == 2
    assert "hunter2" not in err
    assert "error: invalid --stack-outputs 'ssm://***@eu-central-1/idp-dr/sso/stack-outputs': a file, '-', or " in err


def test_backup_dump_refuses_a_bad_metric_region_before_it_dumps_or_uploads():
    """It used to upload the dump first and fail at the metric: a verified dump reported as a failure."""
    dsn = "host=127.0.0.1 port=9 dbname=keycloak"
    metric = ["--metric-namespace", "IdpDr", "--metric-region", "nowhere"]
    code, err = _run("backup", "dump", "--idp", "keycloak", "--db-dsn", dsn, "--archive", "s3://acme-archive", *metric)
    assert code == 2
    assert "error: invalid --metric-region 'nowhere': an AWS region name such as us-east-1 or eu-central-1" in err


@pytest.mark.parametrize("dsn", ["", "   "])
def test_backup_dump_refuses_an_empty_dsn_instead_of_a_traceback(dsn):
    """'' used to fall through to the stack outputs that were not given (AttributeError on None)."""
    code, err = _run("backup", "dump", "--idp", "keycloak", "--db-dsn", dsn, "--archive", "s3://idp-dr-dumps")
    assert code == 2
    assert err.startswith(f"error: invalid --db-dsn {dsn!r}: a libpq connection string, e.g. postgresql://")
