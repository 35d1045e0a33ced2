"""The Keycloak bench's token-rate probe: real HTTP against a local token endpoint that counts what it answers."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from types import SimpleNamespace

import pytest

from bench import keycloak_start


def _endpoint(status: int):
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # the http.server hook
            length = int(self.headers["Content-Length"])
            seen.append({"path": self.path, **urllib.parse.parse_qs(self.rfile.read(length).decode())})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _keycloak(port: int):
    return SimpleNamespace(name="kc", http_port=port, admin_username="admin", admin_password="s3cret")


def test_the_probe_counts_every_answered_grant_per_window_with_the_admins_password_grant(monkeypatch):
    monkeypatch.setattr(keycloak_start, "RATE_WINDOW_S", 1)
    server, seen = _endpoint(200)
    try:
        rates = keycloak_start._token_rate(_keycloak(server.server_port), 3)
    finally:
        server.shutdown()
    assert len(rates) == 3
    assert all(rate > 0 for rate in rates)
    # every window's grants were answered, and the last window may lose at most the two in flight at the end
    assert sum(rates) <= len(seen) <= sum(rates) + 2
    assert seen[0] == {
        "path": "/realms/master/protocol/openid-connect/token",
        "grant_type": ["password"],
        "client_id": ["admin-cli"],
        "username": ["admin"],
        "password": ["s3cret"],
    }


def test_a_refused_grant_stops_the_probe_with_the_status_instead_of_a_rate():
    server, _seen = _endpoint(401)
    try:
        with pytest.raises(RuntimeError, match="token-rate probe on kc: token endpoint answered 401"):
            keycloak_start._token_rate(_keycloak(server.server_port), 5)
    finally:
        server.shutdown()


def test_an_unreachable_endpoint_stops_the_probe_instead_of_reporting_a_low_rate():
    server, _seen = _endpoint(200)
    port = server.server_port
    server.shutdown()
    server.server_close()
    with pytest.raises(RuntimeError, match="token-rate probe on kc: token endpoint unreachable"):
        keycloak_start._token_rate(_keycloak(port), 5)


def test_the_settled_rate_leaves_out_the_warmup_windows():
    assert keycloak_start._settled([1.0, 2.0, 3.0, 50.0, 52.0, 48.0]) == 50.0
