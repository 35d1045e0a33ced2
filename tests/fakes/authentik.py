"""A stand-in for authentik: its documented HTTP endpoints and its PostgreSQL table names.

authentik cannot run on this project's CI machine (it is not installable from
the package registries available here), so its checks are tested against:

* :class:`FakeAuthentik`, a stdlib ``http.server`` in a thread serving what
  authentik serves (authentik/root/urls.py, authentik/providers/oauth2/urls.py):
  ``/-/health/ready/`` (200, 503 when its database is down; empty body),
  ``/-/health/live/``, ``/application/o/<slug>/.well-known/openid-configuration``
  (issuer ``https://<host>/application/o/<slug>/``, per-provider issuer mode),
  ``/application/o/<slug>/jwks/`` (kid = md5 of the PEM private key, as
  CertificateKeyPair.kid computes it), ``/application/o/token/``
  (client_credentials with the provider's client secret) and
  ``/api/v3/admin/version/`` (authenticated).
* :func:`create_schema`, the subset of authentik's schema verify reads, with the
  real table and column names (Django's ``<app_label>_<model>``).

This proves the adapter speaks authentik's documented interface, not that a
particular authentik release behaves exactly so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes._http import serve, shutdown


@dataclass
class KeyPair:
    """An authentik certificate-key pair: the PEM it stores and the kid it publishes."""

    name: str
    pem: str
    key: RSAKey

    @classmethod
    def generate(cls, name: str) -> KeyPair:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cls(name, pem, RSAKey.import_key(pem))

    @property
    def kid(self) -> str:
        return hashlib.md5(self.pem.encode("utf-8"), usedforsecurity=False).hexdigest()

    def jwk(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        return {
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": public["n"],
            "e": public["e"],
        }


@dataclass
class FakeAuthentik:
    slug: str = "grafana"
    client_id: str = "grafana-client"
    client_secret: str = field(default="fake-client-secret-1234", repr=False)
    public_url: str = "https://auth.example.test"
    version: str = "2025.10.1"
    ready: bool = True
    signing_key: KeyPair = field(default_factory=lambda: KeyPair.generate("authentik Self-signed Certificate"))
    #: The keys the JWKS publishes (default: the provider's signing key).
    published: list[KeyPair] | None = None
    #: The provider's encryption key, published with use "enc" (None: not set).
    encryption_key: KeyPair | None = None
    #: The key tokens are signed with, and the kid put in their header (defaults: the signing key).
    token_key: KeyPair | None = None
    token_kid: str | None = None
    #: Scopes the provider allows (authentik drops requested scopes it does not allow).
    allowed_scopes: tuple[str, ...] = ("openid", "profile", "email")
    issued: list[str] = field(default_factory=list)
    #: How many requests the fake answered (bad input must not cause any).
    requests: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return f"{self.public_url}/application/o/{self.slug}/"

    def start(self) -> FakeAuthentik:
        self._server = serve(self._get, self._post)
        return self

    def stop(self) -> None:
        shutdown(self._server)
        self._server = None

    # -- routes --
    def _get(self, req: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        path = urlsplit(req.path).path
        prefix = f"/application/o/{self.slug}/"
        if path == "/-/health/live/":
            return _send(req, 200, None)
        if path == "/-/health/ready/":
            return _send(req, 200 if self.ready else 503, None)
        if path == prefix + ".well-known/openid-configuration":
            return _send(
                req,
                200,
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.public_url}/application/o/authorize/",
                    "token_endpoint": f"{self.public_url}/application/o/token/",
                    "userinfo_endpoint": f"{self.public_url}/application/o/userinfo/",
                    "end_session_endpoint": f"{prefix}end-session/",
                    "jwks_uri": f"{self.public_url}{prefix}jwks/",
                    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        if path == prefix + "jwks/":
            keys = self.published if self.published is not None else [self.signing_key]
            jwks = [k.jwk() for k in keys]
            if self.encryption_key is not None:
                jwks.append({**self.encryption_key.jwk(), "use": "enc", "alg": "RSA-OAEP-256", "enc": "A256CBC-HS512"})
            return _send(req, 200, {"keys": jwks} if jwks else {})
        if path == "/api/v3/admin/version/":
            token = req.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.issued or "goauthentik.io/api" not in self._scopes_of(token):
                return _send(req, 403, {"detail": "Authentication credentials were not provided."})
            return _send(
                req,
                200,
                {
                    "version_current": self.version,
                    "version_latest": self.version,
                    "version_latest_valid": True,
                    "build_hash": "",
                    "outdated": False,
                },
            )
        if path.startswith("/application/o/"):
            return _send(req, 404, {"detail": "Not found."})
        return _send(req, 404, None)

    def _post(self, req: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        if urlsplit(req.path).path != "/application/o/token/":
            return _send(req, 404, None)
        length = int(req.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(req.rfile.read(length).decode()).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = req.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return _send(req, 400, {"error": "unsupported_grant_type"})
        if client_id != self.client_id or secret != self.client_secret:
            return _send(req, 400, {"error": "invalid_grant"})
        scopes = [s for s in form.get("scope", "").split() if s in self.allowed_scopes]
        now = int(time.time())
        key = self.token_key or self.signing_key
        claims = {
            "iss": self.issuer,
            "sub": hashlib.sha256(client_id.encode()).hexdigest(),
            "aud": client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "acr": "goauthentik.io/providers/oauth2/default",
            "azp": client_id,
            "scope": " ".join(scopes),
            "uid": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": "RS256", "kid": self.token_kid or key.kid, "typ": "JWT"}, claims, key.key)
        self.issued.append(token)
        return _send(
            req,
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(scopes),
                "expires_in": 300,
                "id_token": token,
            },
        )

    def _scopes_of(self, token: str) -> list[str]:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("scope", "")).split()


def _send(req: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    req.send_response(status)
    if body is not None:
        req.send_header("Content-Type", "application/json")
    req.send_header("Content-Length", str(len(data)))
    req.end_headers()
    req.wfile.write(data)


# -- the database -------------------------------------------------------------------------
#: The tables verify reads, with authentik's names and the columns verify (and the
#: session hygiene) touches. Types follow Django's PostgreSQL mapping.
SCHEMA_SQL = """
CREATE TABLE django_migrations (
    id bigserial PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL,
    applied timestamptz NOT NULL);
CREATE TABLE authentik_version_history (
    id bigserial PRIMARY KEY, "timestamp" timestamptz NOT NULL, version text NOT NULL, build text NOT NULL);
CREATE TABLE authentik_brands_brand (
    brand_uuid uuid PRIMARY KEY, domain text NOT NULL, "default" boolean NOT NULL,
    branding_title text NOT NULL);
CREATE TABLE authentik_core_user (
    id serial PRIMARY KEY, username varchar(150) NOT NULL UNIQUE, name text NOT NULL,
    email varchar(254) NOT NULL, is_active boolean NOT NULL, type text NOT NULL, uuid uuid NOT NULL,
    path text NOT NULL, date_joined timestamptz NOT NULL);
CREATE TABLE authentik_crypto_certificatekeypair (
    kp_uuid uuid PRIMARY KEY, name text NOT NULL UNIQUE, certificate_data text NOT NULL,
    key_data text NOT NULL, managed text UNIQUE, created timestamptz NOT NULL,
    last_updated timestamptz NOT NULL);
CREATE TABLE authentik_core_provider (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE authentik_providers_oauth2_oauth2provider (
    provider_ptr_id integer PRIMARY KEY REFERENCES authentik_core_provider(id) DEFERRABLE INITIALLY DEFERRED,
    client_type varchar(30) NOT NULL, client_id varchar(255) NOT NULL UNIQUE,
    client_secret varchar(255) NOT NULL,
    issuer_mode text NOT NULL,
    signing_key_id uuid REFERENCES authentik_crypto_certificatekeypair(kp_uuid)
        DEFERRABLE INITIALLY DEFERRED,
    encryption_key_id uuid REFERENCES authentik_crypto_certificatekeypair(kp_uuid)
        DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE authentik_core_application (
    policybindingmodel_ptr_id uuid PRIMARY KEY, name text NOT NULL, slug varchar(50) NOT NULL UNIQUE,
    provider_id integer UNIQUE REFERENCES authentik_core_provider(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE authentik_events_event (
    event_uuid uuid PRIMARY KEY, action text NOT NULL, app text NOT NULL, context jsonb NOT NULL,
    client_ip inet, created timestamptz NOT NULL, expires timestamptz NOT NULL, expiring boolean NOT NULL);
CREATE TABLE authentik_core_session (
    session_key varchar(40) PRIMARY KEY, session_data bytea NOT NULL, expires timestamptz NOT NULL,
    expiring boolean NOT NULL, last_ip inet NOT NULL, last_user_agent text NOT NULL,
    last_used timestamptz NOT NULL);
CREATE TABLE authentik_core_authenticatedsession (
    session_id varchar(40) PRIMARY KEY REFERENCES authentik_core_session(session_key)
        DEFERRABLE INITIALLY DEFERRED,
    uuid uuid NOT NULL UNIQUE,
    user_id integer NOT NULL REFERENCES authentik_core_user(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE authentik_providers_oauth2_refreshtoken (
    id serial PRIMARY KEY, token text NOT NULL, expires timestamptz NOT NULL,
    session_id varchar(40) REFERENCES authentik_core_authenticatedsession(session_id)
        DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE authentik_providers_oauth2_accesstoken (
    id serial PRIMARY KEY, token text NOT NULL, expires timestamptz NOT NULL,
    session_id varchar(40) REFERENCES authentik_core_authenticatedsession(session_id)
        DEFERRABLE INITIALLY DEFERRED);
"""


def create_schema(conn: Any, fake: FakeAuthentik, *, users: int = 3, sessions: int = 2) -> None:
    """Create authentik's tables and fill them like a small installation of ``fake.version``."""
    conn.execute(SCHEMA_SQL)
    for i, (app, name) in enumerate(
        [
            ("authentik_core", "0001_initial"),
            ("authentik_providers_oauth2", "0028_migrate_session"),
            ("authentik_core", "0048_delete_oldauthenticatedsession"),
            ("authentik_brands", "0009_brand_branding_default_flow_background"),
        ]
    ):
        conn.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now() - %s::interval)",
            (app, name, f"{10 - i} days"),
        )
    conn.execute(
        "INSERT INTO authentik_version_history (timestamp, version, build) VALUES (now() - '1 day'::interval,"
        " %s, 'abc123')",
        (fake.version,),
    )
    conn.execute(
        "INSERT INTO authentik_brands_brand VALUES (%s, 'authentik-default', true, 'authentik')",
        (uuid.uuid4(),),
    )
    for i in range(users):
        conn.execute(
            "INSERT INTO authentik_core_user (username, name, email, is_active, type, uuid, path, "
            "date_joined)"
            " VALUES (%s, %s, %s, true, 'internal', %s, 'users', now())",
            (f"user{i}", f"User {i}", f"user{i}@example.test", uuid.uuid4()),
        )
    conn.execute(
        "INSERT INTO authentik_core_user (username, name, email, is_active, type, uuid, path, date_joined)"
        " VALUES (%s, 'client_credentials user', '', true, 'internal_service_account', %s, "
        "'goauthentik.io/providers/oauth2', now())",
        (f"ak-{fake.slug}-client_credentials", uuid.uuid4()),
    )
    add_keypair(conn, fake.signing_key)
    provider_id = conn.execute(
        "INSERT INTO authentik_core_provider (name) VALUES (%s) RETURNING id", (f"{fake.slug} provider",)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO authentik_providers_oauth2_oauth2provider VALUES (%s, 'confidential', %s, %s, "
        "'per_provider', (SELECT kp_uuid FROM authentik_crypto_certificatekeypair WHERE name = %s), NULL)",
        (provider_id, fake.client_id, fake.client_secret, fake.signing_key.name),
    )
    conn.execute(
        "INSERT INTO authentik_core_application VALUES (%s, %s, %s, %s)",
        (uuid.uuid4(), fake.slug.title(), fake.slug, provider_id),
    )
    conn.execute(
        "INSERT INTO authentik_events_event VALUES (%s, 'login', 'authentik.events.signals', '{}', "
        "'127.0.0.1', now() - '5 minutes'::interval, now() + '1 year'::interval, true)",
        (uuid.uuid4(),),
    )
    for i in range(sessions):
        key = f"session{i:033d}"
        conn.execute(
            "INSERT INTO authentik_core_session VALUES (%s, '\\x00', now() + '1 day'::interval, true, "
            "'127.0.0.1', 'pytest', now())",
            (key,),
        )
        conn.execute("INSERT INTO authentik_core_authenticatedsession VALUES (%s, %s, 1)", (key, uuid.uuid4()))
        conn.execute(
            "INSERT INTO authentik_providers_oauth2_refreshtoken (token, expires, session_id) "
            "VALUES (%s, now() + '1 day'::interval, %s)",
            (f"refresh-{i}", key),
        )


def add_keypair(conn: Any, pair: KeyPair) -> None:
    conn.execute(
        "INSERT INTO authentik_crypto_certificatekeypair VALUES (%s, %s, %s, %s, NULL, now(), now())",
        (
            uuid.uuid4(),
            pair.name,
            "-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n",
            pair.pem,
        ),
    )
