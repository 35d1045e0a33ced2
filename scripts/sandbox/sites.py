"""Stand-ins for the two IdP sites, served over real HTTP on loopback (sandbox and tests).

Each :class:`FakeIdpSite` answers the readiness path (200 when ready, 503 otherwise), the issuer's
discovery document, its JWKS and a ``client_credentials`` token endpoint (HTTP Basic, an RS256 JWT signed
with the first key). Readiness is a callable, so the DR site can be "ready" exactly when the (fake) cluster
runs its Deployment with the recovered database, and the primary can be down. Sites built with the same
:class:`SigningKeys` publish the same keys, as two IdPs on one database do. These are simulations of
Keycloak/authentik endpoints, not the applications.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class SigningKeys:
    """The realm's keys and its one confidential client (what the database holds, SIMULATED)."""

    keys: list[RSAKey] = field(default_factory=lambda: [RSAKey.generate_key(2048, auto_kid=True)])
    client_id: str = "idp-dr-verifier"
    client_secret: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)

    def jwks(self) -> dict:
        return {"keys": [{**k.as_dict(private=False), "use": "sig", "alg": "RS256"} for k in self.keys]}

    def token(self, issuer: str, authorization: str, form: dict[str, str]) -> tuple[int, dict]:
        client_id, _, secret = base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if (client_id, secret) != (self.client_id, self.client_secret):
            return 401, {"error": "unauthorized_client"}
        now, key = int(time.time()), self.keys[0]
        claims = {
            "iss": issuer,
            "azp": client_id,
            "sub": client_id,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 300}


class FakeIdpSite:
    def __init__(
        self,
        *,
        health_path: str,
        issuer: str,
        ready: Callable[[], bool] | bool = True,
        served_issuer: Callable[[], str] | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        keys: SigningKeys | None = None,
    ):
        self.keys = keys
        self.health_path = health_path
        self.issuer = issuer
        self._ready = ready
        self._served_issuer = served_issuer if served_issuer is not None else issuer
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                path = urlparse(self.path).path
                discovery = urlparse(site.issuer).path.rstrip("/") + "/.well-known/openid-configuration"
                if path == site.health_path:
                    ready = site.is_ready()
                    self._send(200 if ready else 503, {"status": "UP" if ready else "DOWN", "checks": []})
                elif path == discovery and site.is_ready():
                    issuer = site.served_issuer().rstrip("/")
                    oidc = f"{issuer}/protocol/openid-connect"
                    self._send(200, {"issuer": site.served_issuer(), "jwks_uri": f"{oidc}/certs",
                                     "token_endpoint": f"{oidc}/token"})  # fmt: skip
                elif path == site.oidc_path("certs") and site.is_ready() and site.keys:
                    self._send(200, site.keys.jwks())
                else:
                    self._send(404 if site.is_ready() else 503, {"error": "not found"})

            def do_POST(self) -> None:
                site.requests.append(self.path)
                if urlparse(self.path).path != site.oidc_path("token") or not site.is_ready() or not site.keys:
                    return self._send(404 if site.is_ready() else 503, {"error": "not found"})
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = site.keys.token(site.served_issuer(), self.headers.get("Authorization", ""), form)
                return self._send(status, body)

            def _send(self, code: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-idp-site",
            daemon=True,
        )

    def oidc_path(self, endpoint: str) -> str:
        return urlparse(self.served_issuer()).path.rstrip("/") + f"/protocol/openid-connect/{endpoint}"

    def is_ready(self) -> bool:
        return bool(self._ready() if callable(self._ready) else self._ready)

    def served_issuer(self) -> str:
        return self._served_issuer() if callable(self._served_issuer) else str(self._served_issuer)

    def configure(self, *, health_path: str, issuer: str) -> None:
        self.health_path = health_path
        self.issuer = issuer
        self._served_issuer = issuer

    def set_ready(self, ready: Callable[[], bool] | bool) -> None:
        self._ready = ready

    @property
    def hostport(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> FakeIdpSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeIdpSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
