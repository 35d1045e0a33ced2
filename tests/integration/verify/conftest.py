"""A real PostgreSQL 15 and a real Keycloak, shared by the verify integration tests.

Keycloak starts are the expensive part (a JVM on 2 cores), so one primary
serves the whole session; each test works in its own realm. Extra servers
(another hostname, a standby on a restored copy) are started only by the
tests that need them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.errors import ExternalError
from scripts.lab import keycloak as kc
from scripts.lab import keycloak_dist as kcd
from scripts.lab.postgres import PgCluster
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor
from tests.conftest import need

HOSTNAME = "https://sso.example.test"
DB_ROLE = "keycloak"


@dataclass
class RealmSetup:
    realm: str
    client_id: str
    client_secret: str
    secret_file: Path
    users: list[str]
    user_password: str


@dataclass
class KeycloakLab:
    workspace: Path
    supervisor: Supervisor
    pg: PgCluster
    db_password: str
    build: kcd.KeycloakBuild
    primary: kc.KeycloakServer
    ca_file: Path | None = None

    def dsn(self, dbname: str = "keycloak", **params: str) -> str:
        return self.pg.tcp_dsn(dbname, DB_ROLE, self.db_password, **params)

    def jdbc(self, dbname: str = "keycloak") -> kc.JdbcDatabase:
        return kc.JdbcDatabase.local(self.pg.port, dbname, DB_ROLE, self.db_password)

    def make_realm(self, realm: str, *, users: int = 2) -> RealmSetup:
        admin = self.primary.admin()
        admin.create_realm(realm)
        client_id = f"{realm}-verifier"
        secret = admin.create_confidential_client(
            realm, client_id, direct_access_grants=True, service_account_roles=["manage-users", "view-realm"]
        )
        password = secrets.token_urlsafe(12)
        names = [f"user{i}" for i in range(users)]
        for name in names:
            admin.create_user(realm, name, password=password)
        secret_file = self.workspace / f"{realm}.secret"
        secret_file.write_text(secret + "\n")
        secret_file.chmod(0o600)
        return RealmSetup(realm, client_id, secret, secret_file, names, password)

    def copy_database(self, source: str, target: str) -> None:
        """A logical copy (pg_dump | pg_restore) owned by the Keycloak role: a "restored" database."""
        self.pg.execute(f'CREATE DATABASE "{target}" OWNER {DB_ROLE}')
        conn = ["-h", str(self.pg.socket_dir), "-p", str(self.pg.port), "-U", "postgres"]
        dump = subprocess.Popen([str(self.pg.bindir / "pg_dump"), *conn, "-Fc", source], stdout=subprocess.PIPE)
        restore = subprocess.run(
            [str(self.pg.bindir / "pg_restore"), *conn, "--no-owner", f"--role={DB_ROLE}", "-d", target],
            stdin=dump.stdout,
            capture_output=True,
            text=True,
        )
        dump.stdout.close()  # type: ignore[union-attr]
        assert dump.wait() == 0 and restore.returncode == 0, restore.stderr

    def start_keycloak(
        self,
        name: str,
        *,
        dbname: str = "keycloak",
        hostname: str = HOSTNAME,
        extra_env: dict[str, str] | None = None,
        http_port: int | None = None,
        mgmt_port: int | None = None,
    ) -> kc.KeycloakServer:
        return kc.start_keycloak(
            self.supervisor,
            self.workspace,
            db=self.jdbc(dbname),
            hostname=hostname,
            name=name,
            build=self.build,
            admin_password=self.primary.admin_password,
            extra_env=extra_env,
            http_port=http_port,
            mgmt_port=mgmt_port,
        )


@pytest.fixture(scope="session")
def keycloak_lab() -> Iterator[KeycloakLab]:
    need(pg_available(), "PostgreSQL 15 server binaries (apt-get install postgresql)")
    need(shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME")), "a JDK >= 17 for Keycloak")
    try:
        build = kcd.ensure_build()
    except ExternalError as exc:
        need(False, f"Keycloak {kcd.KEYCLOAK_VERSION} distribution: {exc.message}")
    workspace = make_workspace(prefix="test-verify-")
    try:
        with Supervisor() as supervisor:
            pg = PgCluster.create(workspace, "pg", supervisor=supervisor)
            pg.start()
            password = secrets.token_urlsafe(16)
            pg.create_role_and_db(DB_ROLE, password, "keycloak")
            primary = kc.start_keycloak(
                supervisor,
                workspace,
                db=kc.JdbcDatabase.local(pg.port, "keycloak", DB_ROLE, password),
                hostname=HOSTNAME,
                name="primary",
                build=build,
            )
            yield KeycloakLab(workspace, supervisor, pg, password, build, primary)
    finally:  # also when setup is interrupted
        remove_tree(workspace)


@pytest.fixture(scope="session")
def tls_ca(keycloak_lab: KeycloakLab) -> Path:
    """Turn TLS on in the lab's PostgreSQL (server cert for 127.0.0.1 signed by a throwaway CA)."""
    ca_key, ca_cert = _ca("idp-dr test CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pg = keycloak_lab.pg
    for name, data in (
        ("server.crt", server_cert.public_bytes(serialization.Encoding.PEM)),
        (
            "server.key",
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ),
    ):
        path = pg.datadir / name
        path.write_bytes(data)
        path.chmod(0o600)
        pg.user.chown(path)
    pg.write_settings({"ssl": True, "ssl_cert_file": "server.crt", "ssl_key_file": "server.key"})
    pg.execute("SELECT pg_reload_conf()")
    ca_file = keycloak_lab.workspace / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    keycloak_lab.ca_file = ca_file
    with psycopg.connect(keycloak_lab.dsn(sslmode="verify-full", sslrootcert=str(ca_file))) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
    return ca_file


def other_ca_file(directory: Path) -> Path:
    """A CA that did not sign the server's certificate."""
    _key, cert = _ca("some other CA")
    path = directory / "other-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert
