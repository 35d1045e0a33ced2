"""Stand-ins for the two IdP sites, served over real HTTP on loopback (sandbox and tests).

Each :class:`FakeIdpSite` answers the readiness path (200 when ready, 503 otherwise) and the
issuer's discovery document. Readiness is a callable, so the DR site can be "ready" exactly when
the (fake) cluster runs its Deployment with the recovered database, and the primary can be down.
These are simulations of Keycloak/authentik endpoints, not the applications.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


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
    ):
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
                    issuer = site.served_issuer()
                    self._send(
                        200,
                        {"issuer": issuer, "jwks_uri": f"{issuer.rstrip('/')}/protocol/openid-connect/certs"},
                    )
                else:
                    self._send(404 if site.is_ready() else 503, {"error": "not found"})

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
