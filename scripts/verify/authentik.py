"""authentik: URLs of its OAuth2/OIDC provider and facts from its PostgreSQL schema.

Endpoints (authentik/root/urls.py, authentik/providers/oauth2/urls.py):
``/-/health/ready/`` (200, or 503 when the database is unreachable),
``/application/o/<slug>/.well-known/openid-configuration`` (issuer
``https://<host>/application/o/<slug>/``), ``/application/o/<slug>/jwks/``,
``/application/o/token/``, ``/api/v3/admin/version/`` (authenticated).

Tables read: ``django_migrations``, ``authentik_version_history`` (the version
that last ran against the DB), ``authentik_brands_brand``, ``authentik_core_user``,
``authentik_core_application`` → ``authentik_providers_oauth2_oauth2provider`` →
``authentik_crypto_certificatekeypair`` (the key ID authentik publishes is
``md5(key_data)``, computed *in* PostgreSQL so the private key never leaves it),
``authentik_events_event`` and ``authentik_core_session`` /
``authentik_core_authenticatedsession`` (sessions live in PostgreSQL since 2025.4).

authentik cannot run on this project's CI machine: this adapter is tested
against a fixture serving the documented endpoints and a schema fixture with
these table names (tests/scripts/verify/authentik_fixture.py), not a running authentik.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from scripts.verify.base import DbFacts, SigningKey
from scripts.verify.http import Http, HttpResult, join
from scripts.verify.model import ClientCredentials, Target

#: Django stores sessions here (authentik >= 2025.4); tokens bound to a session reference it.
SESSION_TABLE = "authentik_core_session"
AUTHENTICATED_SESSION_TABLE = "authentik_core_authenticatedsession"
#: Proxy outposts with session_backend=postgres keep their sessions here.
PROXY_SESSION_TABLE = "proxy_sessions"
SERVICE_ACCOUNT_TYPES = ("service_account", "internal_service_account")


class AuthentikAdapter:
    idp = "authentik"
    count_names = ("brands", "users", "applications")
    #: Asked for so the token may also read /api/v3/admin/version/ (dropped silently if not allowed).
    token_scope: str | None = "openid goauthentik.io/api"  # noqa: S105 - OAuth scopes, not a secret

    # -- URLs --
    def default_mgmt_url(self, target: Target) -> str:
        return target.base_url

    def readiness_url(self, target: Target) -> str:
        return join(target.mgmt_url or self.default_mgmt_url(target), "/-/health/ready/")

    def readiness_ok(self, result: HttpResult) -> bool:
        return result.status == 200

    def discovery_url(self, target: Target) -> str:
        return join(target.base_url, f"/application/o/{target.app}/.well-known/openid-configuration")

    def fallback_jwks_path(self, target: Target) -> str:
        return f"/application/o/{target.app}/jwks/"

    def fallback_token_path(self, target: Target) -> str:
        return "/application/o/token/"

    # -- database --
    def db_app_version(self, conn: psycopg.Connection) -> str | None:
        if not _table_exists(conn, "authentik_version_history"):
            return None
        row = conn.execute(
            "SELECT version FROM authentik_version_history ORDER BY timestamp DESC, id DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def read_db(self, conn: psycopg.Connection, target: Target, *, ignore_client_id: str | None = None) -> DbFacts:
        # ignore_client_id: verify reads the database before requesting a token, so its own
        # login event is not yet there.
        def one(query: str, *params: Any) -> tuple | None:
            return conn.execute(query, params).fetchone()

        last = one("SELECT app, name FROM django_migrations ORDER BY applied DESC, id DESC LIMIT 1")
        migrations = one("SELECT count(*) FROM django_migrations")[0]
        schema = {"last_migration": f"{last[0]}.{last[1]}" if last else None, "migrations": migrations}
        version = self.db_app_version(conn)
        brands = one("SELECT count(*) FROM authentik_brands_brand")[0]
        users = one("SELECT count(*) FROM authentik_core_user WHERE NOT (type = ANY(%s))", list(SERVICE_ACCOUNT_TYPES))[
            0
        ]
        applications = one("SELECT count(*) FROM authentik_core_application")[0]
        app = one("SELECT provider_id FROM authentik_core_application WHERE slug = %s", target.app)
        keys: list[SigningKey] = []
        if app is not None:
            # The JWKS publishes the provider's signing key and, when set, its encryption key.
            key_columns = [("signing_key_id", "sig")]
            if _column_exists(conn, "authentik_providers_oauth2_oauth2provider", "encryption_key_id"):
                key_columns.append(("encryption_key_id", "enc"))
            for column, use in key_columns:
                query = sql.SQL(
                    "SELECT kp.name, md5(kp.key_data) FROM authentik_providers_oauth2_oauth2provider p "
                    "JOIN authentik_crypto_certificatekeypair kp ON kp.kp_uuid = p.{} "
                    "WHERE p.provider_ptr_id = %s AND kp.key_data <> ''"
                ).format(sql.Identifier(column))
                for name, kid in conn.execute(query, (app[0],)).fetchall():
                    keys.append(SigningKey(kid=kid, name=name, provider="certificate-key pair", use=use))
        newest = one("SELECT max(created) FROM authentik_events_event")[0]
        # Sessions moved into PostgreSQL in 2025.4; older versions keep them in the cache.
        sessions = {
            key: _count(conn, table) if _table_exists(conn, table) else None
            for key, table in (("sessions", SESSION_TABLE), ("authenticated", AUTHENTICATED_SESSION_TABLE))
        }
        return DbFacts(
            app_version=version,
            schema=schema,
            scope_exists=app is not None,
            counts={"brands": brands, "users": users, "applications": applications},
            keys=keys,
            newest_event_at=newest.astimezone(UTC) if newest else None,
            sessions=sessions,
        )

    # -- the app's own report --
    def app_reported_version(self, http: Http, target: Target, token: str | None) -> tuple[str | None, str]:
        if not token:
            return None, "no client token to ask /api/v3/admin/version/"
        result = http.get_json(
            join(target.base_url, "/api/v3/admin/version/"), headers={"Authorization": f"Bearer {token}"}
        )
        if result.ok and isinstance(result.body, dict) and result.body.get("version_current"):
            return str(result.body["version_current"]), "reported by /api/v3/admin/version/"
        if result.status in (401, 403):
            return None, (
                "the token may not read /api/v3/admin/version/ (the provider must allow the goauthentik.io/api scope)"
            )
        return None, f"/api/v3/admin/version/: {result.reason()}"

    # -- post-PITR session hygiene --
    def apply_session_hygiene(
        self,
        policy: str,
        *,
        http: Http,
        target: Target,
        token: str | None,
        conn: psycopg.Connection | None,
        client: ClientCredentials | None,
    ) -> tuple[bool, str, dict[str, Any]]:
        evidence: dict[str, Any] = {"policy": policy, "applied_at": datetime.now(UTC)}
        if conn is None:
            return False, "clear-sessions needs the database (--db-dsn)", evidence
        deleted: dict[str, int] = {}
        with conn.transaction():
            # Tokens bound to a session reference it without ON DELETE CASCADE (Django emulates
            # cascades), so they go first; a revived session's tokens are exactly what to revoke.
            for table in _session_bound_tables(conn):
                cur = conn.execute(sql.SQL("DELETE FROM {} WHERE session_id IS NOT NULL").format(sql.Identifier(table)))
                deleted[table] = cur.rowcount
            for table in (AUTHENTICATED_SESSION_TABLE, SESSION_TABLE, PROXY_SESSION_TABLE):
                if _table_exists(conn, table):
                    deleted[table] = conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table))).rowcount
        evidence["deleted_rows"] = deleted
        tokens = sum(n for t, n in deleted.items() if t.startswith("authentik_providers_"))
        message = (
            f"deleted {deleted.get(SESSION_TABLE, 0)} sessions "
            f"({deleted.get(AUTHENTICATED_SESSION_TABLE, 0)} authenticated) and {tokens} "
            "session-bound tokens; every user signs in again"
        )
        return True, message, evidence


def _count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def _column_exists(conn: psycopg.Connection, table: str, column: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND column_name = %s)",
        (table, column),
    ).fetchone()[0]


def _table_exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def _session_bound_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name = 'session_id' AND table_name LIKE 'authentik\\_providers\\_oauth2\\_%' "
        "ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]
