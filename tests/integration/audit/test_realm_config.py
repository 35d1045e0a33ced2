"""``audit realm-config`` against a real Keycloak: an unchanged realm exports identically, a change made
through the admin API shows as drift naming it, and no secret reaches the reference or the diff."""

from __future__ import annotations

import io
import json

import pytest

from scripts.audit.realm_config import ROLES
from scripts.cli import main
from scripts.errors import ExitCode
from tests.integration.verify.conftest import KeycloakLab

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]

REALM = "audited"
AUDITOR = "config-auditor"


@pytest.fixture(scope="module")
def audited(keycloak_lab: KeycloakLab):
    lab = keycloak_lab
    admin = lab.primary.admin()
    admin.create_realm(REALM)
    portal_secret = admin.create_confidential_client(REALM, "portal")
    secret = admin.create_confidential_client(REALM, AUDITOR, service_account_roles=list(ROLES))
    secret_file = lab.workspace / "auditor.secret"
    secret_file.write_text(secret + "\n")
    return lab, admin, secret_file, {portal_secret, secret}


def audit(lab, secret_file, *extra: str, client_id: str = AUDITOR) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "audit",
            "realm-config",
            "--base-url",
            lab.primary.base_url,
            "--realm",
            REALM,
            "--client-id",
            client_id,
            "--client-secret-file",
            str(secret_file),
            "--json",
            "--quiet",
            *extra,
        ],
        stdout=out,
        stderr=err,
    )
    return code, json.loads(out.getvalue()), out.getvalue() + err.getvalue()


def test_two_exports_of_an_unchanged_realm_are_identical_and_clean(audited, tmp_path):
    lab, _admin, secret_file, _ = audited
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    code, _, text = audit(lab, secret_file, "--write", str(first))
    assert code == ExitCode.OK, text
    assert audit(lab, secret_file, "--write", str(second))[0] == ExitCode.OK
    assert first.read_text() == second.read_text()
    doc = json.loads(first.read_text())
    assert doc["realm"] == REALM and any(c["clientId"] == "portal" for c in doc["clients"])
    assert "users" not in doc or not doc["users"]  # configuration only
    code, report, text = audit(lab, secret_file, "--against", str(first))
    assert code == ExitCode.OK, text
    assert report["result"]["clean"] is True and report["result"]["drift"] == []


def test_a_change_through_the_admin_api_is_drift_naming_it(audited, tmp_path):
    lab, admin, secret_file, _ = audited
    reference = tmp_path / "reference.json"
    assert audit(lab, secret_file, "--write", str(reference))[0] == ExitCode.OK
    (client,) = admin.request("GET", f"/realms/{REALM}/clients", params={"clientId": "portal"}).json()
    admin.request(
        "PUT", f"/realms/{REALM}/clients/{client['id']}", json={**client, "redirectUris": ["https://evil.example/*"]}
    )
    admin.request("PUT", f"/realms/{REALM}", json={"realm": REALM, "bruteForceProtected": True})
    try:
        code, report, text = audit(lab, secret_file, "--against", str(reference))
    finally:
        admin.request("PUT", f"/realms/{REALM}/clients/{client['id']}", json=client)
        admin.request("PUT", f"/realms/{REALM}", json={"realm": REALM, "bruteForceProtected": False})
    assert code == ExitCode.CHECK_FAILED, text
    drift = report["result"]["drift"]
    assert "~ bruteForceProtected: false -> true" in drift
    assert '~ clients[clientId=portal].redirectUris: [] -> ["https://evil.example/*"]' in drift
    assert report["error"]["message"].startswith(f"realm '{REALM}' drifted from {reference}")
    assert audit(lab, secret_file, "--against", str(reference))[0] == ExitCode.OK  # reverted: clean again


def test_no_secret_value_reaches_the_reference_or_the_diff(audited, tmp_path):
    lab, admin, secret_file, secrets_in_realm = audited
    reference = tmp_path / "reference.json"
    audit(lab, secret_file, "--write", str(reference))
    (client,) = admin.request("GET", f"/realms/{REALM}/clients", params={"clientId": "portal"}).json()
    admin.request("POST", f"/realms/{REALM}/clients/{client['id']}/client-secret")  # a new secret: drift?
    code, _, text = audit(lab, secret_file, "--against", str(reference))
    new_secret = admin.request("GET", f"/realms/{REALM}/clients/{client['id']}/client-secret").json()["value"]
    for value in {*secrets_in_realm, new_secret}:
        assert value not in reference.read_text() and value not in text
    assert code == ExitCode.OK, text  # a rotated secret is masked on both sides: not configuration drift
    exported = json.loads(reference.read_text())
    portal = next(c for c in exported["clients"] if c["clientId"] == "portal")
    assert portal["secret"] == "**********"


def test_a_client_without_the_view_roles_is_told_which_roles_it_needs(audited, tmp_path):
    lab, admin, _, _ = audited
    weak = admin.create_confidential_client(REALM, "no-roles")
    weak_file = tmp_path / "weak.secret"
    weak_file.write_text(weak)
    code, _, text = audit(lab, weak_file, "--write", str(tmp_path / "x.json"), client_id="no-roles")
    assert code == ExitCode.EXTERNAL
    assert (
        f"error: keycloak: no-roles may not read the configuration of realm '{REALM}' (GET /admin/realms/{REALM}: "
        "HTTP 403)\nhint: give its service account the realm-management roles view-realm, view-clients, view-users, "
        "view-identity-providers" in text
    )
    assert not (tmp_path / "x.json").exists()
