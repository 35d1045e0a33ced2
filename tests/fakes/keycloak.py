"""A stand-in for one Keycloak site over real HTTP: what ``verify`` reads, nothing more.

Serves Keycloak's paths for one realm: ``/health/ready`` (``{"status": "UP"}`` or 503 DOWN, as the
management interface answers), the realm's discovery document (advertising the *public* URLs, as
Keycloak with hostname v2 does), its JWKS (``/protocol/openid-connect/certs``) and a
``client_credentials`` token endpoint (HTTP Basic client authentication, RS256 JWT signed with the
first published key). While not ready, every other path answers 503 (the pods are starting).

Used by the failover tests to stand for the DR site; the real Keycloak is exercised by
tests/integration/verify. Key IDs are RFC 7638 thumbprints, not Keycloak's SPKI hash: no test
here compares them with a database.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes._http import serve, shutdown


def generate_keys(n: int) -> list[RSAKey]:
    return [RSAKey.generate_key(2048, auto_kid=True) for _ in range(n)]


@dataclass
class FakeKeycloak:
    keys: list[RSAKey]
    realm: str = "main"
    public_url: str = "https://sso.example.com"
    client_id: str = "dr-verifier"
    client_secret: str = field(default="fake-keycloak-secret-9f3a7c", repr=False)
    ready: Callable[[], bool] | bool = True
    #: The issuer the site claims (default: the production issuer for public_url and realm).
    served_issuer: str | None = None
    #: Every request path, in order.
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return self.served_issuer or f"{self.public_url}/realms/{self.realm}"

    @property
    def url(self) -> str:
        return f"http://{self.hostport}"

    @property
    def hostport(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def is_ready(self) -> bool:
        return bool(self.ready() if callable(self.ready) else self.ready)

    def start(self) -> FakeKeycloak:
        self._server = serve(self._get, self._post)
        return self

    def stop(self) -> None:
        shutdown(self._server)
        self._server = None

    def __enter__(self) -> FakeKeycloak:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routes --
    def _get(self, req: BaseHTTPRequestHandler) -> None:
        path = urlsplit(req.path).path
        self.requests.append(path)
        ready = self.is_ready()
        if path == "/health/ready":
            return _send(req, 200 if ready else 503, {"status": "UP" if ready else "DOWN", "checks": []})
        if not ready:
            return _send(req, 503, {"error": "starting"})
        realm = f"/realms/{self.realm}"
        if path == f"{realm}/.well-known/openid-configuration":
            oidc = f"{self.issuer}/protocol/openid-connect"
            return _send(
                req,
                200,
                {
                    "issuer": self.issuer,
                    "jwks_uri": f"{oidc}/certs",
                    "token_endpoint": f"{oidc}/token",
                    "grant_types_supported": ["authorization_code", "client_credentials"],
                },
            )
        if path == f"{realm}/protocol/openid-connect/certs":
            return _send(
                req, 200, {"keys": [{**k.as_dict(private=False), "use": "sig", "alg": "RS256"} for k in self.keys]}
            )
        return _send(req, 404, {"error": "Unable to find matching target resource method"})

    def _post(self, req: BaseHTTPRequestHandler) -> None:
        path = urlsplit(req.path).path
        self.requests.append(path)
        if not self.is_ready():
            return _send(req, 503, {"error": "starting"})
        if path != f"/realms/{self.realm}/protocol/openid-connect/token":
            return _send(req, 404, {"error": "Unable to find matching target resource method"})
        length = int(req.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(req.rfile.read(length).decode()).items()}
        auth = req.headers.get("Authorization", "")
        client_id, secret = "", ""
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return _send(req, 400, {"error": "unsupported_grant_type"})
        if client_id != self.client_id or secret != self.client_secret:
            return _send(req, 401, {"error": "unauthorized_client", "error_description": "Invalid client credentials"})
        now = int(time.time())
        key = self.keys[0]
        claims = {
            "iss": self.issuer,
            "azp": client_id,
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)),
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
        return _send(req, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})


def _send(req: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    req.send_response(status)
    req.send_header("Content-Type", "application/json")
    req.send_header("Content-Length", str(len(data)))
    req.end_headers()
    req.wfile.write(data)
