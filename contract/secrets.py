"""Kubernetes Secret keys both sides use: the Pulumi program writes them, failover rewrites the host."""

from __future__ import annotations

from typing import Final

#: The Kubernetes Secret keys each IdP reads its database connection from, per IdP.
#: ``components.standby.secrets`` builds the Secret (or ExternalSecret) with them; ``failover`` and the
#: sandbox read and rewrite the ``host`` key through the Kubernetes adapter.
DB_SECRET_KEYS: Final[dict[str, dict[str, str]]] = {
    "keycloak": {
        "host": "KC_DB_URL_HOST",
        "port": "KC_DB_URL_PORT",
        "dbname": "KC_DB_URL_DATABASE",
        "username": "KC_DB_USERNAME",
        "password": "KC_DB_PASSWORD",
    },
    "authentik": {
        "host": "AUTHENTIK_POSTGRESQL__HOST",
        "port": "AUTHENTIK_POSTGRESQL__PORT",
        "dbname": "AUTHENTIK_POSTGRESQL__NAME",
        "username": "AUTHENTIK_POSTGRESQL__USER",
        "password": "AUTHENTIK_POSTGRESQL__PASSWORD",
    },
}


#: The Kubernetes Secret each IdP's pods read their database connection from (the component writes
#: or syncs it; failover rewrites its host key).
DB_SECRET_NAMES: Final[dict[str, str]] = {"keycloak": "keycloak-db", "authentik": "authentik-postgresql"}
