"""A reverse proxy in front of Keycloak that hands out tokens signed by a foreign key.

Everything is forwarded unchanged (discovery, the real JWKS, health) except the
token endpoint's answer: the access token's claims are re-signed with another
RSA key, under the ``kid`` of Keycloak's genuine signing key. This is what a
client sees from a standby whose signing key is not production's (a realm
re-imported from an export, a restore of the wrong database) or from a
man-in-the-middle: the JWKS looks right, the token does not verify.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes._http import serve, shutdown

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


def _b64json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@dataclass
class ResigningProxy:
    upstream: str
    foreign_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048))
    resigned: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ResigningProxy:
        self._server = serve(lambda req: self._forward(req, "GET"), lambda req: self._forward(req, "POST"))
        return self

    def stop(self) -> None:
        shutdown(self._server)
        self._server = None

    def _forward(self, req: BaseHTTPRequestHandler, method: str) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0)) if method == "POST" else None
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = requests.request(
            method, self.upstream + req.path, headers=headers, data=body, timeout=30, allow_redirects=False
        )
        content = upstream.content
        if method == "POST" and req.path.endswith("/protocol/openid-connect/token") and upstream.ok:
            doc = upstream.json()
            header_part, claims_part, _sig = doc["access_token"].split(".")
            genuine_kid = _b64json(header_part)["kid"]
            doc["access_token"] = jwt.encode(
                {"alg": "RS256", "typ": "JWT", "kid": genuine_kid}, _b64json(claims_part), self.foreign_key
            )
            self.resigned += 1
            content = json.dumps(doc).encode()
        req.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() not in HOP_BY_HOP:
                req.send_header(key, value)
        req.send_header("Content-Length", str(len(content)))
        req.end_headers()
        req.wfile.write(content)
