"""The small interface an identity provider implements for ``baseline`` and ``verify``.

An adapter knows the IdP's URLs and how to read its facts from PostgreSQL.
Everything else (the checks, their names, baselines, reports) is shared and
lives in :mod:`scripts.verify.core`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg

from scripts.verify.http import Http, HttpResult
from scripts.verify.model import ClientCredentials, Target


@dataclass
class SigningKey:
    """A key as the database holds it (public facts only: the private half is never read)."""

    kid: str | None
    name: str
    provider: str
    use: str = "sig"
    enabled: bool = True
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "name": self.name,
            "provider": self.provider,
            "use": self.use,
            "enabled": self.enabled,
            "active": self.active,
        }


@dataclass
class DbFacts:
    """What the database says, read with plain SELECTs."""

    #: The app version that last migrated this database (None: the IdP does not record it).
    app_version: str | None
    #: Keycloak: {"last_changeset", "last_changelog_file", "changesets"};
    #: authentik: {"last_migration", "migrations"}.
    schema: dict[str, Any]
    #: The realm (Keycloak) or application slug (authentik) exists.
    scope_exists: bool
    counts: dict[str, int]
    keys: list[SigningKey]
    newest_event_at: datetime | None
    sessions: dict[str, int] = field(default_factory=dict)
    #: Anything else worth showing (e.g. the realm's not-before).
    extra: dict[str, Any] = field(default_factory=dict)


class IdpAdapter(Protocol):
    """URLs and database facts of one identity provider."""

    idp: str
    #: Counts, in the order checks report them: (realms|brands, users, clients|applications).
    count_names: tuple[str, str, str]

    def default_mgmt_url(self, target: Target) -> str: ...

    def readiness_url(self, target: Target) -> str: ...

    def readiness_ok(self, result: HttpResult) -> bool: ...

    def discovery_url(self, target: Target) -> str: ...

    def fallback_jwks_path(self, target: Target) -> str: ...

    def fallback_token_path(self, target: Target) -> str: ...

    def db_app_version(self, conn: psycopg.Connection) -> str | None:
        """The IdP version that last migrated this database (a dump's manifest records it)."""
        ...

    def read_db(self, conn: psycopg.Connection, target: Target, *, ignore_client_id: str | None = None) -> DbFacts:
        """Facts from plain SELECTs. Events caused by ``ignore_client_id`` (the verifier) do not count."""
        ...

    def app_reported_version(self, http: Http, target: Target, token: str | None) -> tuple[str | None, str]:
        """(version, how it was learnt or why not) from the running app's own report."""
        ...

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
        """Apply ``policy``; returns (ok, message, evidence)."""
        ...
