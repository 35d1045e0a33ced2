"""The verifier client: the least-privileged confidential client ``verify``, ``baseline``, ``failover
--baseline`` and the drills get a token with, its secret kept in Secrets Manager (replicated to DR).

Keycloak: client credentials only (no browser, implicit or password flow), ``fullScopeAllowed``
off and no client roles on its service account, so its token carries nothing but the proof that the
realm signs with the keys it publishes. Phases (after creating the realm, enabled and nothing more, when a new
Keycloak does not have it yet):

1. **client**: find it by client ID; create it, or put back any setting that drifted;
2. **roles**: take away client roles its service account was given (realm-management and the like);
3. **secret**: read the client's secret from Keycloak and store it in the stack's verifier secret,
   only when it differs (Secrets Manager replicates it to the DR region);
4. **verify**: a client_credentials token from the realm with that secret.

A re-run on a correct realm changes nothing. The secret never reaches output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import ClientError

from scripts.aws.client import Aws, error_code
from scripts.errors import ExternalError, InputError
from scripts.keycloak_api import KeycloakAdminApi, raise_for
from scripts.report import Report

DEFAULT_CLIENT_ID = "idp-dr-verifier"
#: The client's settings that make it a client-credentials-only, role-less client.
CLIENT_SETTINGS: dict[str, Any] = {
    "enabled": True,
    "protocol": "openid-connect",
    "publicClient": False,
    "bearerOnly": False,
    "clientAuthenticatorType": "client-secret",
    "serviceAccountsEnabled": True,
    "standardFlowEnabled": False,
    "implicitFlowEnabled": False,
    "directAccessGrantsEnabled": False,
    "fullScopeAllowed": False,
}
DESCRIPTION = "idp-dr verify: client credentials only"


#: A realm name as this tool accepts it: it is put into admin-API paths (``../master`` must never reach them).
REALM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
#: Keycloak lists *every* client for an empty ``clientId``: an ID must be printable and hold no whitespace.
CLIENT_ID = re.compile(r"[\x21-\x7e]{1,255}")


def check_realm(value: str | None) -> str:
    if not isinstance(value, str) or not REALM_NAME.fullmatch(value) or value in (".", ".."):
        raise InputError("--realm", value, "a realm name: letters, digits, '_', '.', '-' (at most 255, not . or ..)")
    return value


def check_client_id(value: str | None) -> str:
    if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
        raise InputError("--client-id", value, "a client ID of 1 to 255 printable characters without spaces")
    return value


@dataclass(frozen=True)
class VerifierRequest:
    admin: KeycloakAdminApi
    realm: str
    client_id: str
    secret_name: str
    region: str
    dry_run: bool = False

    def __post_init__(self) -> None:
        check_realm(self.realm)
        check_client_id(self.client_id)


def bootstrap_verifier(req: VerifierRequest, aws: Aws, report: Report) -> dict[str, Any]:
    changes: list[str] = []
    with report.step("preflight", secret=req.secret_name, region=req.region):
        _secret_exists(req, aws)  # before Keycloak is touched: nowhere to keep the secret is bad input
    with report.step("realm", realm=req.realm):
        created = _ensure_realm(req, changes)
    with report.step("client", realm=req.realm, client_id=req.client_id):
        internal_id = None if created and req.dry_run else _ensure_client(req, changes)
    with report.step("roles"):
        if internal_id:
            _strip_client_roles(req, internal_id, changes)
    with report.step("secret", secret=req.secret_name, region=req.region):
        secret = _client_secret(req, internal_id) if internal_id else None
        if secret:
            report.register_secret(secret)
            _store(req, aws, secret, changes)
    with report.step("verify"):
        if secret:
            _verify_token(req, secret, report)
        else:
            report.check("verifier.token", None, "dry run: the client does not exist yet")
    return {"realm": req.realm, "client_id": req.client_id, "secret": req.secret_name, "changes": changes,
            "dry_run": req.dry_run}  # fmt: skip


# ---------------------------------------------------------------------------- phases
def _ensure_realm(req: VerifierRequest, changes: list[str]) -> bool:
    """Day one: a new Keycloak has only its master realm, and the stack's realm (the issuer every check compares)
    is created here, enabled and nothing more: its clients, users and login settings are the team's. An
    existing realm is never changed. Returns whether it was (or, in a dry run, would be) created."""
    names = [r.get("realm") for r in req.admin.request("GET", "/realms").json() if isinstance(r, dict)]
    if req.realm in names:
        return False
    changes.append(f"create realm {req.realm}")
    if not req.dry_run:
        req.admin.request("POST", "/realms", json={"realm": req.realm, "enabled": True})
    return True


def _ensure_client(req: VerifierRequest, changes: list[str]) -> str | None:
    listed = req.admin.request("GET", f"/realms/{req.realm}/clients", params={"clientId": req.client_id}).json()
    # Only the exact ID: never another client the search happened to return (it is made client-credentials only,
    # stripped of its roles, and its secret stored).
    found = [c for c in listed if isinstance(c, dict) and c.get("clientId") == req.client_id]
    if not found:
        changes.append("create client")
        if req.dry_run:
            return None
        response = req.admin.request(
            "POST",
            f"/realms/{req.realm}/clients",
            json={
                "clientId": req.client_id,
                "description": "idp-dr verify: client credentials only",
                **CLIENT_SETTINGS,
            },
        )
        return req.admin.created_id(response)
    client = found[0]
    drift = {k: v for k, v in CLIENT_SETTINGS.items() if client.get(k) != v}
    if drift:
        changes.append(f"reset settings {', '.join(sorted(drift))}")
        if not req.dry_run:
            req.admin.request("PUT", f"/realms/{req.realm}/clients/{client['id']}", json={**client, **drift})
    return str(client["id"])


def _strip_client_roles(req: VerifierRequest, internal_id: str, changes: list[str]) -> None:
    user = req.admin.request("GET", f"/realms/{req.realm}/clients/{internal_id}/service-account-user").json()
    mappings = req.admin.request("GET", f"/realms/{req.realm}/users/{user['id']}/role-mappings").json()
    for client_name, mapping in (mappings.get("clientMappings") or {}).items():
        roles = mapping.get("mappings") or []
        if roles:
            changes.append(f"remove {client_name} roles {', '.join(sorted(r['name'] for r in roles))}")
            if not req.dry_run:
                req.admin.request(
                    "DELETE",
                    f"/realms/{req.realm}/users/{user['id']}/role-mappings/clients/{mapping['id']}",
                    json=roles,
                )


def _client_secret(req: VerifierRequest, internal_id: str) -> str:
    body = req.admin.request("GET", f"/realms/{req.realm}/clients/{internal_id}/client-secret").json()
    value = body.get("value")
    if not value:
        raise ExternalError(f"keycloak returned no secret for client {req.client_id!r}")
    return str(value)


def _secret_exists(req: VerifierRequest, aws: Aws) -> None:
    try:
        aws.call(aws.client("secretsmanager", req.region), "DescribeSecret", SecretId=req.secret_name)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise ExternalError(f"reading secret {req.secret_name} in {req.region} failed: {exc}") from None
        raise InputError(
            "--secret",
            req.secret_name,
            f"a Secrets Manager secret in {req.region} (pulumi up creates it: stack output standby.verifierSecret)",
        ) from None


def _store(req: VerifierRequest, aws: Aws, secret: str, changes: list[str]) -> None:
    client = aws.client("secretsmanager", req.region)
    wanted = {"client_id": req.client_id, "client_secret": secret, "realm": req.realm}
    try:
        current = aws.call(client, "GetSecretValue", SecretId=req.secret_name).get("SecretString")
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise ExternalError(f"reading secret {req.secret_name} in {req.region} failed: {exc}") from None
        current = None  # it exists (preflight) but holds no value yet: its first run
    if current and _same(current, wanted):
        return
    changes.append("store secret")
    if not req.dry_run:
        aws.call(client, "PutSecretValue", SecretId=req.secret_name, SecretString=json.dumps(wanted, sort_keys=True))


def _verify_token(req: VerifierRequest, secret: str, report: Report) -> None:
    url = f"{req.admin.base_url}/realms/{req.realm}/protocol/openid-connect/token"
    try:
        response = requests.post(
            url,
            data={"grant_type": "client_credentials", "client_id": req.client_id, "client_secret": secret},
            timeout=req.admin.timeout,
        )
        raise_for(response, "get a client_credentials token")
        ok, message = "access_token" in response.json(), "a client_credentials token with the stored secret"
    except ExternalError as exc:
        ok, message = False, exc.message
    report.check("verifier.token", ok, message)


def _same(current: str, wanted: dict[str, str]) -> bool:
    try:
        return json.loads(current) == wanted
    except ValueError:
        return False
