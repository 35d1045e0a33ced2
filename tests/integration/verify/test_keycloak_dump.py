"""A real Keycloak's database through ``backup dump`` and ``restore dump``: the dump taken from the
running primary lands in the archive (moto_server), is restored into a new database, a standby
Keycloak starts on it with the production hostname, and ``verify`` against the primary's baseline
passes (the same issuer, keys overlapping, a token that validates, the same schema and counts)."""

from __future__ import annotations

import io
import json

import pytest

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from tests.integration.verify.conftest import DB_ROLE, KeycloakLab
from tests.integration.verify.test_keycloak import _baseline, _verify

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]

BUCKET = "idp-dr-dumps"


def cli(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--json", "--quiet"], stdout=out, stderr=err)
    return code, json.loads(out.getvalue()), out.getvalue() + err.getvalue()


def test_a_keycloak_restored_from_a_dump_is_the_same_idp(keycloak_lab: KeycloakLab, monkeypatch):
    lab = keycloak_lab
    for key, value in LAB_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    s3 = S3Server.start(lab.supervisor, lab.workspace)
    s3.create_bucket(BUCKET)
    setup = lab.make_realm("dumped", users=3)
    baseline = _baseline(lab, setup)

    code, doc, text = cli("backup", "dump", "--idp", "keycloak", "--db-dsn", lab.dsn(), "--archive", f"s3://{BUCKET}",
                          "--endpoint-url", s3.endpoint_url)  # fmt: skip
    assert code == ExitCode.OK, text
    assert doc["result"]["manifest"]["idp_version"] == lab.primary.version

    admin = lab.pg.tcp_dsn("postgres", "postgres", lab.pg.superuser_password)
    code, doc, text = cli("restore", "dump", "--archive", f"s3://{BUCKET}", "--endpoint-url", s3.endpoint_url,
                          "--db-dsn", admin, "--dbname", "keycloak_from_dump", "--owner", DB_ROLE,
                          "--app-version", lab.primary.version, "--jobs", "2", "--yes")  # fmt: skip
    assert code == ExitCode.OK, text

    server = lab.start_keycloak("from-dump", dbname="keycloak_from_dump")
    try:
        code, doc = _verify(
            lab, setup, "--baseline", str(baseline),
            base_url=server.base_url, mgmt_url=server.mgmt_url, dsn=lab.dsn("keycloak_from_dump"),
        )  # fmt: skip
        failed = [c for c in doc["checks"] if c["status"] == "FAIL"]
        assert code == ExitCode.OK and failed == [], failed
    finally:
        server.stop()
        s3.process.stop()
