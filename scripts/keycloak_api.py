"""Keycloak's admin REST API: a token for an admin, then authenticated requests (shared by the
``bootstrap verifier`` command and the lab's richer client)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

from scripts.errors import ExternalError


@dataclass
class KeycloakAdminApi:
    """``base_url``: where this machine reaches Keycloak (the admin API, e.g. through a port-forward);
    ``username``/``password``: an admin of the master realm (password grant on admin-cli)."""

    base_url: str
    username: str
    password: str = field(repr=False)
    timeout: float = 30
    _token: str | None = field(default=None, repr=False)
    _token_expires: float = 0.0

    def token(self) -> str:
        if self._token and time.monotonic() < self._token_expires - 10:
            return self._token
        try:
            response = requests.post(
                f"{self.base_url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self.username,
                    "password": self.password,
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ExternalError(f"keycloak: cannot reach {self.base_url}: {exc}") from None
        raise_for(response, "get an admin token")
        body = response.json()
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + float(body.get("expires_in", 60))
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        try:
            response = requests.request(
                method, f"{self.base_url}/admin{path}", headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise ExternalError(f"keycloak: {method} /admin{path} failed: {exc}") from None
        raise_for(response, f"{method} /admin{path}")
        return response

    @staticmethod
    def created_id(response: requests.Response) -> str:
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def raise_for(response: requests.Response, what: str) -> None:
    if response.status_code < 400:
        return
    body = response.text.strip().replace("\n", " ")[:300]
    raise ExternalError(f"keycloak: could not {what}: HTTP {response.status_code} {body}")
