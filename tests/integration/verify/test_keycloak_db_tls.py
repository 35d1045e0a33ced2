"""The database TLS settings the Pulumi program gives Keycloak's pods, run for real.

The rendered Deployment's ``KC_DB_URL_PROPERTIES`` (sslmode verify-full, the CA file the pods mount)
is handed to a real Keycloak 26 against the lab's PostgreSQL with TLS on: it starts when the CA
signed the server's certificate, and refuses to when another CA did (what a man in the middle
with its own certificate looks like).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.tls import POD_CA_PATH
from scripts.errors import ExternalError, WaitTimeout
from scripts.lab import keycloak as kc
from tests.integration.verify.conftest import DB_ROLE, HOSTNAME, KeycloakLab, other_ca_file
from tests.unit.conftest import deployments, env_of, run_stack

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]


def _pod_db_env(ca_file: Path) -> dict[str, str]:
    """The pods' KC_DB_URL_PROPERTIES, with the mounted CA path pointing at ``ca_file``."""
    env = env_of(deployments(run_stack(), "keycloak")[0])
    properties = env["KC_DB_URL_PROPERTIES"]
    assert POD_CA_PATH in properties and "sslmode=verify-full" in properties
    return {"KC_DB_URL_PROPERTIES": properties.replace(POD_CA_PATH, str(ca_file))}


def _start(lab: KeycloakLab, name: str, ca_file: Path) -> kc.KeycloakServer:
    db = kc.JdbcDatabase(
        None,
        DB_ROLE,
        lab.db_password,
        parts={
            "KC_DB_URL_HOST": "127.0.0.1",
            "KC_DB_URL_PORT": str(lab.pg.port),
            "KC_DB_URL_DATABASE": "keycloak",
            **_pod_db_env(ca_file),
        },
    )
    return kc.start_keycloak(
        lab.supervisor,
        lab.workspace,
        db=db,
        hostname=HOSTNAME,
        name=name,
        build=lab.build,
        admin_password=lab.primary.admin_password,
        timeout=180,
    )


def test_keycloak_connects_with_the_pods_verify_full_settings(keycloak_lab: KeycloakLab, tls_ca: Path):
    server = _start(keycloak_lab, "tls-verified", tls_ca)
    try:
        rows = keycloak_lab.pg.execute(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND usename = %s",
            (DB_ROLE,),
            dbname="keycloak",
        )
        assert rows[0][0] >= 1  # Keycloak's pool connections are encrypted
    finally:
        server.stop()


def test_keycloak_refuses_a_server_signed_by_another_ca(keycloak_lab: KeycloakLab, tls_ca: Path):
    with pytest.raises((ExternalError, WaitTimeout)):
        server = _start(keycloak_lab, "tls-other-ca", other_ca_file(keycloak_lab.workspace))
        server.stop()
    log = (keycloak_lab.workspace / "tls-other-ca" / "keycloak.log").read_text(errors="replace")
    assert "PKIX path building failed" in log, log[-2000:]
