"""``bootstrap verifier`` against the real Keycloak 26 of the verify lab, its secret in Secrets Manager
served by a real moto_server endpoint (AWS_ENDPOINT_URL, as for any AWS-compatible endpoint).

The client is created once with client credentials only, re-runs change nothing, drift (an extra
flow, an admin role) is put back, the secret lands in Secrets Manager and never in output, and
``verify --verifier-secret`` gets its token with it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import boto3
import pytest

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from tests.integration.verify.conftest import HOSTNAME, KeycloakLab

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]

REGION = "eu-west-1"
SECRET = "idp-dr/sso/verifier-client"


@pytest.fixture(scope="module")
def secrets_manager(keycloak_lab: KeycloakLab) -> Iterator[str]:
    server = S3Server.start(keycloak_lab.supervisor, keycloak_lab.workspace)  # moto_server serves every service
    try:
        yield server.endpoint_url
    finally:
        server.process.stop()


@pytest.fixture
def aws_env(monkeypatch, secrets_manager):
    for key, value in LAB_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", secrets_manager)
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=secrets_manager)
    return client


def cli(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--json"], stdout=out, stderr=err)
    return code, json.loads(out.getvalue()), out.getvalue() + err.getvalue()


def bootstrap(lab: KeycloakLab, realm: str, secret: str) -> tuple[int, dict, str]:
    password = lab.workspace / "admin.password"
    password.write_text(lab.primary.admin_password + "\n")
    return cli(
        "bootstrap", "verifier", "--admin-url", lab.primary.base_url, "--admin-password-file", str(password),
        "--realm", realm, "--secret", secret, "--region", REGION,
    )  # fmt: skip


def test_the_client_is_created_once_with_client_credentials_only(keycloak_lab: KeycloakLab, aws_env):
    lab = keycloak_lab
    lab.primary.admin().create_realm("verifier-new")
    aws_env.create_secret(Name=f"{SECRET}-new")  # as pulumi up leaves it: no value yet
    code, doc, text = bootstrap(lab, "verifier-new", f"{SECRET}-new")
    assert code == ExitCode.OK, text
    assert doc["result"]["changes"] == ["create client", "store secret"]
    assert {c["name"]: c["status"] for c in doc["checks"]} == {"verifier.token": "pass"}
    stored = json.loads(aws_env.get_secret_value(SecretId=f"{SECRET}-new")["SecretString"])
    assert stored["client_id"] == "idp-dr-verifier" and stored["realm"] == "verifier-new"
    assert stored["client_secret"] not in text

    [client] = (
        lab.primary.admin()
        .request("GET", "/realms/verifier-new/clients", params={"clientId": "idp-dr-verifier"})
        .json()
    )
    assert client["serviceAccountsEnabled"] is True and client["publicClient"] is False
    assert not client["standardFlowEnabled"] and not client["directAccessGrantsEnabled"]
    assert not client["implicitFlowEnabled"] and client["fullScopeAllowed"] is False

    code, doc, _ = bootstrap(lab, "verifier-new", f"{SECRET}-new")
    assert code == ExitCode.OK and doc["result"]["changes"] == []


def test_on_day_one_the_realm_is_created_then_its_verifier(keycloak_lab: KeycloakLab, aws_env):
    """A new Keycloak has only master: the stack's realm is created (enabled, nothing else), then the client."""
    lab = keycloak_lab
    aws_env.create_secret(Name=f"{SECRET}-day-one")
    code, doc, text = bootstrap(lab, "day-one", f"{SECRET}-day-one")
    assert code == ExitCode.OK, text
    assert doc["result"]["changes"] == ["create realm day-one", "create client", "store secret"]
    realm = lab.primary.admin().request("GET", "/realms/day-one").json()
    assert realm["enabled"] is True
    assert {c["name"]: c["status"] for c in doc["checks"]} == {"verifier.token": "pass"}
    code, doc, _ = bootstrap(lab, "day-one", f"{SECRET}-day-one")
    assert code == ExitCode.OK and doc["result"]["changes"] == []


def test_drift_is_put_back(keycloak_lab: KeycloakLab, aws_env):
    lab = keycloak_lab
    admin = lab.primary.admin()
    admin.create_realm("verifier-drift")
    aws_env.create_secret(Name=f"{SECRET}-drift")
    assert bootstrap(lab, "verifier-drift", f"{SECRET}-drift")[0] == ExitCode.OK
    [client] = admin.request("GET", "/realms/verifier-drift/clients", params={"clientId": "idp-dr-verifier"}).json()
    admin.request(
        "PUT", f"/realms/verifier-drift/clients/{client['id']}", json={**client, "directAccessGrantsEnabled": True}
    )
    user = admin.request("GET", f"/realms/verifier-drift/clients/{client['id']}/service-account-user").json()
    [rm] = admin.request("GET", "/realms/verifier-drift/clients", params={"clientId": "realm-management"}).json()
    roles = {r["name"]: r for r in admin.request("GET", f"/realms/verifier-drift/clients/{rm['id']}/roles").json()}
    admin.request(
        "POST",
        f"/realms/verifier-drift/users/{user['id']}/role-mappings/clients/{rm['id']}",
        json=[roles["manage-users"]],
    )

    code, doc, text = bootstrap(lab, "verifier-drift", f"{SECRET}-drift")
    assert code == ExitCode.OK, text
    assert doc["result"]["changes"] == [
        "reset settings directAccessGrantsEnabled",
        "remove realm-management roles manage-users",
    ]
    mappings = admin.request("GET", f"/realms/verifier-drift/users/{user['id']}/role-mappings").json()
    assert not (mappings.get("clientMappings") or {})


def test_verify_gets_its_token_with_the_stored_secret(keycloak_lab: KeycloakLab, aws_env):
    lab = keycloak_lab
    lab.primary.admin().create_realm("verifier-use")
    aws_env.create_secret(Name=f"{SECRET}-use")
    assert bootstrap(lab, "verifier-use", f"{SECRET}-use")[0] == ExitCode.OK
    code, doc, text = cli(
        "verify", "--idp", "keycloak", "--base-url", lab.primary.base_url, "--mgmt-url", lab.primary.mgmt_url,
        "--realm", "verifier-use", "--verifier-secret", f"{SECRET}-use", "--secrets-region", REGION,
        "--expected-issuer", f"{HOSTNAME}/realms/verifier-use",
    )  # fmt: skip
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses.get("token.signature") == statuses.get("token.issuer") == "pass", text
    assert code == ExitCode.OK, text


def test_a_missing_secret_is_bad_input_and_keycloak_is_left_alone(keycloak_lab: KeycloakLab, aws_env):
    lab = keycloak_lab
    lab.primary.admin().create_realm("verifier-nosecret")
    code, doc, _ = bootstrap(lab, "verifier-nosecret", "idp-dr/nope/verifier-client")
    assert code == ExitCode.BAD_INPUT
    assert doc["error"]["message"] == (
        f"invalid --secret 'idp-dr/nope/verifier-client': a Secrets Manager secret in {REGION} (pulumi up creates "
        "it: stack output standby.verifierSecret)"
    )
    clients = lab.primary.admin().request(
        "GET", "/realms/verifier-nosecret/clients", params={"clientId": "idp-dr-verifier"}
    )
    assert clients.json() == []
