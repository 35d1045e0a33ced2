"""Keycloak: URLs (hostname v2, management port) and facts from its PostgreSQL schema.

Tables read (Keycloak 26): ``realm``, ``user_entity``, ``client``,
``migration_model`` (the version that last migrated the DB),
``databasechangelog`` (Liquibase), ``component``/``component_config`` (key
providers: only the ``certificate``, ``kid`` and status settings, never
``privateKey``/``secret``), ``event_entity``/``admin_event_entity`` and
``offline_user_session`` (persistent sessions; ``offline_flag`` '0' = online).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scripts.verify.base import DbFacts, SigningKey
from scripts.verify.http import Http, HttpResult, join
from scripts.verify.model import ClientCredentials, Target

KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"
#: Key providers holding symmetric secrets: never in a JWKS, never compared.
SECRET_KEY_PROVIDERS = ("hmac-generated", "aes-generated")
#: component_config entries we read; privateKey and secret are deliberately absent.
PUBLIC_KEY_SETTINGS = ("certificate", "kid", "enabled", "active", "keyUse", "algorithm")
#: Keycloak's default management port.
MANAGEMENT_PORT = 9000


def kid_from_certificate(certificate_b64: str) -> str:
    """Keycloak's key ID: base64url(SHA-256(SubjectPublicKeyInfo DER)), no padding."""
    cert = x509.load_der_x509_certificate(base64.b64decode(certificate_b64))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).rstrip(b"=").decode()


def _ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


#: The Keycloak version that last migrated the database, and when.
MIGRATION_SQL = "SELECT version, update_time FROM migration_model ORDER BY update_time DESC LIMIT 1"


class KeycloakAdapter:
    idp = "keycloak"
    count_names = ("realms", "users", "clients")
    token_scope: str | None = None

    # -- URLs --
    def default_mgmt_url(self, target: Target) -> str:
        base = urlsplit(target.base_url)
        host = base.hostname or "127.0.0.1"
        netloc = f"[{host}]:{MANAGEMENT_PORT}" if ":" in host else f"{host}:{MANAGEMENT_PORT}"
        return urlunsplit((base.scheme, netloc, base.path, "", ""))

    def readiness_url(self, target: Target) -> str:
        return join(target.mgmt_url or self.default_mgmt_url(target), "/health/ready")

    def readiness_ok(self, result: HttpResult) -> bool:
        return result.status == 200 and isinstance(result.body, dict) and result.body.get("status") == "UP"

    def discovery_url(self, target: Target) -> str:
        return join(target.base_url, f"/realms/{target.realm}/.well-known/openid-configuration")

    def fallback_jwks_path(self, target: Target) -> str:
        return f"/realms/{target.realm}/protocol/openid-connect/certs"

    def fallback_token_path(self, target: Target) -> str:
        return f"/realms/{target.realm}/protocol/openid-connect/token"

    # -- database --
    def db_app_version(self, conn: psycopg.Connection) -> str | None:
        row = conn.execute(MIGRATION_SQL).fetchone()
        return row[0] if row else None

    def read_db(self, conn: psycopg.Connection, target: Target, *, ignore_client_id: str | None = None) -> DbFacts:
        def one(sql: str, *params: Any) -> tuple | None:
            return conn.execute(sql, params).fetchone()

        migration = one(MIGRATION_SQL)
        last = one("SELECT id, filename FROM databasechangelog ORDER BY orderexecuted DESC LIMIT 1")
        changesets = one("SELECT count(*) FROM databasechangelog")
        schema = {
            "last_changeset": last[0] if last else None,
            "last_changelog_file": last[1] if last else None,
            "changesets": changesets[0] if changesets else 0,
        }
        realms = one("SELECT count(*) FROM realm")[0]
        realm = one("SELECT id, not_before FROM realm WHERE name = %s", target.realm)
        if realm is None:
            return DbFacts(
                app_version=migration[0] if migration else None,
                schema=schema,
                scope_exists=False,
                counts={"realms": realms, "users": 0, "clients": 0},
                keys=[],
                newest_event_at=None,
            )
        realm_id, not_before = realm
        users = one(
            "SELECT count(*) FROM user_entity WHERE realm_id = %s AND service_account_client_link IS NULL",
            realm_id,
        )[0]
        clients = one("SELECT count(*) FROM client WHERE realm_id = %s", realm_id)[0]
        # The verifier's own token requests (CLIENT_LOGIN) are not evidence of surviving data.
        newest_user = one(
            "SELECT max(event_time) FROM event_entity WHERE realm_id = %s AND client_id IS DISTINCT FROM %s",
            realm_id,
            ignore_client_id,
        )[0]
        # ... nor its admin calls (session hygiene), recorded under the client's internal id.
        newest_admin = one(
            "SELECT max(admin_event_time) FROM admin_event_entity WHERE realm_id = %s AND auth_client_id "
            "IS DISTINCT FROM (SELECT id FROM client WHERE realm_id = %s AND client_id = %s)",
            realm_id,
            realm_id,
            ignore_client_id,
        )[0]
        newest = max((t for t in (newest_user, newest_admin) if t is not None), default=None)
        sessions = {"online": 0, "offline": 0}
        for flag, count in conn.execute(
            "SELECT offline_flag, count(*) FROM offline_user_session WHERE realm_id = %s GROUP BY 1",
            (realm_id,),
        ).fetchall():
            sessions["offline" if flag == "1" else "online"] += count
        return DbFacts(
            app_version=migration[0] if migration else None,
            schema=schema,
            scope_exists=True,
            counts={"realms": realms, "users": users, "clients": clients},
            keys=self._keys(conn, realm_id),
            newest_event_at=_ms(newest),
            sessions=sessions,
            extra={"realm_not_before": datetime.fromtimestamp(not_before, UTC) if not_before else None},
        )

    def _keys(self, conn: psycopg.Connection, realm_id: str) -> list[SigningKey]:
        rows = conn.execute(
            "SELECT c.id, c.name, c.provider_id, cc.name, cc.value FROM component c "
            "LEFT JOIN component_config cc ON cc.component_id = c.id AND cc.name = ANY(%s) "
            "WHERE c.realm_id = %s AND c.provider_type = %s ORDER BY c.name, c.id",
            (list(PUBLIC_KEY_SETTINGS), realm_id, KEY_PROVIDER_TYPE),
        ).fetchall()
        components: dict[str, dict[str, Any]] = {}
        for component_id, name, provider, setting, value in rows:
            entry = components.setdefault(component_id, {"name": name, "provider": provider, "config": {}})
            if setting is not None:
                entry["config"][setting] = value
        keys = []
        for entry in components.values():
            if entry["provider"] in SECRET_KEY_PROVIDERS:
                continue
            config = entry["config"]
            kid = config.get("kid")
            if not kid and config.get("certificate"):
                try:
                    kid = kid_from_certificate(config["certificate"])
                except ValueError:
                    kid = None
            default_use = "enc" if entry["provider"].endswith("-enc-generated") else "sig"
            keys.append(
                SigningKey(
                    kid=kid,
                    name=entry["name"],
                    provider=entry["provider"],
                    use=(config.get("keyUse") or default_use).lower(),
                    enabled=config.get("enabled", "true") == "true",
                    active=config.get("active", "true") == "true",
                )
            )
        return keys

    # -- the app's own report --
    def app_reported_version(self, http: Http, target: Target, token: str | None) -> tuple[str | None, str]:
        if not token:
            return None, "no client token to ask the server's /admin/serverinfo"
        url = join(target.base_url, "/admin/serverinfo")
        result = http.get_json(url, headers={"Authorization": f"Bearer {token}"})
        if result.ok and isinstance(result.body, dict):
            version = (result.body.get("systemInfo") or {}).get("version")
            if version:
                return str(version), "reported by the server's /admin/serverinfo"
            # Keycloak shows systemInfo only to master-realm admins (view-system).
            return None, "/admin/serverinfo does not show the server version to this realm's client"
        if result.status in (401, 403):
            return None, (
                "the client's service account may not read /admin/serverinfo (give it a "
                "realm-management role such as view-realm)"
            )
        return None, f"/admin/serverinfo: {result.reason()}"

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
        if not token:
            return False, "logout-all needs a client token, and none could be obtained", evidence
        before = self.read_db(conn, target).sessions if conn is not None else None
        url = join(target.base_url, f"/admin/realms/{target.realm}/logout-all")
        result = http.request("POST", url, headers={"Authorization": f"Bearer {token}"})
        evidence.update(result.evidence())
        if not result.ok:
            hint = (
                " (give the client's service account the realm-management role manage-users)"
                if result.status in (401, 403)
                else ""
            )
            return False, f"POST /admin/realms/{target.realm}/logout-all: {result.reason()}{hint}", evidence
        message = f"logged out every session of realm {target.realm} and set its not-before to now"
        ok = True
        if conn is not None:
            facts = self.read_db(conn, target)
            evidence.update(
                sessions_before=before,
                sessions_after=facts.sessions,
                realm_not_before=facts.extra.get("realm_not_before"),
            )
            message += f" (online sessions in the database: {before['online']} → {facts.sessions['online']})"
            if facts.sessions["online"]:
                ok = False
                message = (
                    f"logout-all answered {result.status} but {facts.sessions['online']} online "
                    f"sessions remain in the database"
                )
        return ok, message, evidence
