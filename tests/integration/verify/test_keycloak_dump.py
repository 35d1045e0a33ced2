"""A real Keycloak's database through ``backup dump`` and ``restore dump``: the dump taken from the
running primary lands in the archive (moto_server), is restored into a new database, a standby
Keycloak starts on it with the production hostname, and ``verify`` against the primary's baseline
passes (the same issuer, keys overlapping, a token that validates, the same schema and counts)."""

from __future__ import annotations

import io
import json

import pytest

from scripts.backup.restore import RestoreRequest, Site, VerifySpec, restore_dump
from scripts.cli import main
from scripts.errors import ExitCode
from scripts.k8s.status import DeploymentStatus
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.processes import free_port
from scripts.report import Report
from scripts.runstate import Journal
from scripts.runstate.store import LocalStore
from scripts.verify.model import Baseline, ClientCredentials
from scripts.wal.location import s3_client
from tests.integration.verify.conftest import DB_ROLE, KeycloakLab
from tests.integration.verify.test_keycloak import _baseline, _verify

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]

BUCKET = "idp-dr-dumps"


def cli(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--json", "--quiet"], stdout=out, stderr=err)
    return code, json.loads(out.getvalue()), out.getvalue() + err.getvalue()


class LabSite:
    """A Kubernetes adapter over one real Keycloak: 0 replicas stops it, 1 starts a new one."""

    def __init__(self, start):
        self.start, self.started = start, None

    def scale(self, namespace, deployment, replicas):
        if replicas == 0 and self.started is not None:
            self.started.stop()
            self.started = None
        elif replicas and self.started is None:
            self.started = self.start()

    def deployment_status(self, namespace, deployment):
        n = 1 if self.started is not None else 0
        return DeploymentStatus(deployment, n, n, n, n, 1, 1)


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
                          "--app-version", lab.primary.version, "--jobs", "2", "--yes",
                          "--state-dir", str(lab.workspace / "restore-1"))  # fmt: skip
    assert code == ExitCode.OK, text

    server = lab.start_keycloak("from-dump", dbname="keycloak_from_dump")
    try:
        code, doc = _verify(
            lab, setup, "--baseline", str(baseline),
            base_url=server.base_url, mgmt_url=server.mgmt_url, dsn=lab.dsn("keycloak_from_dump"),
        )  # fmt: skip
        failed = [c for c in doc["checks"] if c["status"] == "FAIL"]
        assert code == ExitCode.OK and failed == [], failed

        server.stop()
        # restore dump with a baseline: the same restore again, run as the library runs it, with a
        # site whose "Deployment" is a real Keycloak: scaled to 0 it stops, scaled up it starts on the
        # restored database (on the same ports), and the run ends in verify against the baseline.
        http_port, mgmt_port = free_port(), free_port()
        site = LabSite(lambda: lab.start_keycloak("from-dump-again", dbname="keycloak_from_dump",
                                                  http_port=http_port, mgmt_port=mgmt_port))  # fmt: skip
        site.scale("identity", "keycloak", 1)  # running, and connected, when the restore begins
        server = None
        client = ClientCredentials(setup.client_id, setup.secret_file.read_text().strip())
        request = RestoreRequest(
            bucket=BUCKET, prefix="", dump="latest", before=None, admin_conninfo=admin, dbname="keycloak_from_dump",
            owner=DB_ROLE, app_version=lab.primary.version, yes=True, site=Site(site, "identity", ("keycloak",), 1),
            verify=VerifySpec(Baseline.load(baseline), str(baseline), f"http://127.0.0.1:{http_port}",
                              f"http://127.0.0.1:{mgmt_port}", client),
        )  # fmt: skip
        report = Report("restore dump")
        journal = Journal.open(LocalStore(lab.workspace / "restore-2"), command="restore dump",
                               subject="keycloak_from_dump")  # fmt: skip
        try:
            restore_dump(request, s3_client(s3.endpoint_url), report, journal)
        finally:
            server = site.started
        statuses = {c.name: c.status for c in report.checks}
        assert report.ok, statuses
        for name in ("verify.issuer", "verify.jwks.baseline_overlap", "verify.token.signature", "verify.db.users"):
            assert statuses[name] == "pass", (name, statuses)
        steps = {s.name: s for s in report.steps}
        assert [(s.name, s.status) for s in report.steps][1:] == [
            ("scale-down", "ok"), ("terminate", "ok"), ("recreate", "ok"), ("restore", "ok"), ("scale-up", "ok"),
            ("verify", "ok")]  # fmt: skip
        assert steps["preflight"].detail["open_connections"] > 0  # Keycloak was connected ...
        assert steps["terminate"].detail["terminated"] == 0  # ... and gone once scaled to 0
    finally:
        if server is not None:
            server.stop()
        s3.process.stop()
