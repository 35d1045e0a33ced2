"""A small typed client of the lab Keycloak's admin REST API: realms, clients, users, keys; a password login."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests

from scripts.keycloak_api import KeycloakAdminApi
from scripts.keycloak_api import raise_for as _raise_for

# -- admin REST API ------------------------------------------------------------
KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"


#: Key providers whose keys sign tokens (RSA/EC/EdDSA; HMAC and AES keys never appear in a JWKS).
SIGNING_KEY_PROVIDERS = frozenset({"rsa-generated", "rsa", "java-keystore", "ecdsa-generated", "eddsa-generated"})


@dataclass
class KeycloakAdmin(KeycloakAdminApi):
    """The admin REST API, as the bootstrap admin of the master realm."""

    def _created_id(self, response: requests.Response) -> str:
        return self.created_id(response)

    # -- realms --
    def create_realm(self, realm: str, *, events: bool = True) -> None:
        """An enabled realm; ``events`` stores login and admin events (the newest-event evidence)."""
        self.request(
            "POST",
            "/realms",
            json={
                "realm": realm,
                "enabled": True,
                "eventsEnabled": events,
                "adminEventsEnabled": events,
                "adminEventsDetailsEnabled": False,
            },
        )

    def get_realm(self, realm: str) -> dict[str, Any]:
        return self.request("GET", f"/realms/{realm}").json()

    def server_version(self) -> str:
        return self.request("GET", "/serverinfo").json()["systemInfo"]["version"]

    # -- clients and users --
    def create_confidential_client(
        self,
        realm: str,
        client_id: str,
        *,
        secret: str | None = None,
        direct_access_grants: bool = False,
        service_account_roles: Iterable[str] = (),
    ) -> str:
        """A confidential client with a service account (client_credentials); returns its secret.

        ``service_account_roles`` are ``realm-management`` client roles for the
        service account (e.g. ``manage-users`` to apply session hygiene).
        """
        import secrets

        secret = secret or secrets.token_urlsafe(24)
        response = self.request(
            "POST",
            f"/realms/{realm}/clients",
            json={
                "clientId": client_id,
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "secret": secret,
                "clientAuthenticatorType": "client-secret",
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": direct_access_grants,
            },
        )
        internal_id = self._created_id(response)
        roles = list(service_account_roles)
        if roles:
            sa_user = self.request("GET", f"/realms/{realm}/clients/{internal_id}/service-account-user").json()
            (rm,) = self.request("GET", f"/realms/{realm}/clients", params={"clientId": "realm-management"}).json()
            available = {r["name"]: r for r in self.request("GET", f"/realms/{realm}/clients/{rm['id']}/roles").json()}
            self.request(
                "POST",
                f"/realms/{realm}/users/{sa_user['id']}/role-mappings/clients/{rm['id']}",
                json=[available[name] for name in roles],
            )
        return secret

    def create_user(self, realm: str, username: str, *, password: str | None = None, email: str | None = None) -> str:
        """An enabled user with a non-temporary password; returns its id."""
        body: dict[str, Any] = {
            "username": username,
            "enabled": True,
            "emailVerified": True,
            "firstName": username,
            "lastName": "Lab",
            "email": email or f"{username}@example.test",
        }
        if password:
            body["credentials"] = [{"type": "password", "value": password, "temporary": False}]
        return self._created_id(self.request("POST", f"/realms/{realm}/users", json=body))

    # -- keys --
    def realm_keys(self, realm: str) -> dict[str, Any]:
        """``GET /admin/realms/{realm}/keys``: {"active": {alg: kid}, "keys": [...]}."""
        return self.request("GET", f"/realms/{realm}/keys").json()

    def key_providers(self, realm: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/realms/{realm}/components", params={"type": KEY_PROVIDER_TYPE}).json()

    def add_rsa_key_provider(self, realm: str, name: str, *, priority: int = 200) -> str:
        """A new generated RSA signing key (RS256); returns the component id."""
        realm_id = self.get_realm(realm)["id"]
        response = self.request(
            "POST",
            f"/realms/{realm}/components",
            json={
                "name": name,
                "providerId": "rsa-generated",
                "providerType": KEY_PROVIDER_TYPE,
                "parentId": realm_id,
                "config": {
                    "priority": [str(priority)],
                    "enabled": ["true"],
                    "active": ["true"],
                    "keySize": ["2048"],
                    "algorithm": ["RS256"],
                },
            },
        )
        return self._created_id(response)

    def delete_component(self, realm: str, component_id: str) -> None:
        self.request("DELETE", f"/realms/{realm}/components/{component_id}")

    def rotate_signing_keys_away(self, realm: str) -> tuple[list[str], list[str]]:
        """Add a new RSA key and delete every other signing-key provider (a botched rotation).

        Returns (kids removed, kids now active). Tokens signed by removed keys no longer validate.
        """
        before = self.signing_kids(realm)
        old = [c for c in self.key_providers(realm) if c["providerId"] in SIGNING_KEY_PROVIDERS]
        self.add_rsa_key_provider(realm, f"rotated-{int(time.time())}", priority=500)
        for component in old:
            self.delete_component(realm, component["id"])
        after = self.signing_kids(realm)
        return sorted(before - after), sorted(after)

    def signing_kids(self, realm: str) -> set[str]:
        """Key IDs of the realm's asymmetric signing keys (what a JWKS publishes for signatures)."""
        return {
            k["kid"]
            for k in self.realm_keys(realm)["keys"]
            if k.get("use") == "SIG" and k.get("type") in ("RSA", "EC", "OKP")
        }

    # -- sessions --
    def session_stats(self, realm: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/realms/{realm}/client-session-stats").json()

    def logout_all(self, realm: str) -> dict[str, Any]:
        """Remove every user session of the realm and set its not-before to now."""
        return self.request("POST", f"/realms/{realm}/logout-all").json()

    def push_not_before(self, realm: str, not_before: int | None = None) -> int:
        """Set the realm's not-before (tokens issued earlier are rejected); returns it."""
        value = int(time.time()) if not_before is None else not_before
        self.request("PUT", f"/realms/{realm}", json={"realm": realm, "notBefore": value})
        return value


def password_login(
    base_url: str,
    realm: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    *,
    timeout: float = 30,
) -> dict[str, Any]:
    """A user login (resource-owner password grant): creates a user session; returns the token response."""
    response = requests.post(
        f"{base_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "password", "username": username, "password": password, "scope": "openid"},
        auth=(client_id, client_secret),
        timeout=timeout,
    )
    _raise_for(response, "log the user in")
    return response.json()
