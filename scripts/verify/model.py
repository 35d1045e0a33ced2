"""What ``baseline`` and ``verify`` take and what a baseline file holds.

The library entry points (:func:`scripts.verify.capture_baseline`,
:func:`scripts.verify.verify`) take these dataclasses, so the local drill calls
them directly with the same meaning as the CLI flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contract.tls import RDS_CA_BUNDLE, RDS_SSLMODE, is_rds_host
from scripts.errors import InputError
from scripts.inputs import check_http_url
from scripts.timeutil import iso, parse_time

IDPS = ("keycloak", "authentik")
#: Post-PITR session hygiene per identity provider ("off" is the default everywhere).
SESSION_HYGIENE: dict[str, tuple[str, ...]] = {
    "keycloak": ("off", "logout-all"),
    "authentik": ("off", "clear-sessions"),
}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: sslmodes under which libpq refuses a connection without TLS.
TLS_REQUIRED_MODES = ("require", "verify-ca", "verify-full")

#: Keys of the verifier client's Secrets Manager secret (``bootstrap verifier`` writes them).
VERIFIER_SECRET_KEYS = ("client_id", "client_secret", "realm")

BASELINE_FORMAT = "idp-dr-baseline"
BASELINE_VERSION = 1


@dataclass(frozen=True)
class DbParams:
    """A PostgreSQL connection: a libpq DSN (URI or key=value) plus optional TLS settings.

    Prefer a DSN without a password and PGPASSWORD / a pgpass file: argv is
    visible to other users of the machine. A password in the DSN is masked in
    every report.
    """

    dsn: str
    sslmode: str | None = None
    sslrootcert: Path | None = None

    def __post_init__(self) -> None:
        try:
            conninfo_to_dict(self.dsn)
        except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError with the DSN inside
            raise InputError(
                "--db-dsn",
                _masked_for_message(self.dsn),
                "expected a libpq connection string, e.g. "
                "postgresql://verifier@db.internal:5432/keycloak?sslmode=verify-full",
            ) from None
        if self.sslmode is not None and self.sslmode not in SSL_MODES:
            raise InputError("--db-sslmode", self.sslmode, f"one of {', '.join(SSL_MODES)}")
        if self.sslrootcert is not None and not Path(self.sslrootcert).is_file():
            raise InputError("--db-sslrootcert", str(self.sslrootcert), "expected a readable CA file (PEM)")

    def conninfo(self) -> str:
        params = conninfo_to_dict(self.dsn)
        extra: dict[str, Any] = {}
        if self.sslmode:
            extra["sslmode"] = self.sslmode
        if self.sslrootcert:
            extra["sslrootcert"] = str(self.sslrootcert)
        if self._rds_default_applies(params):
            # An RDS endpoint with no sslmode given: verify the server with the shipped RDS roots.
            extra["sslmode"] = RDS_SSLMODE
            extra.setdefault("sslrootcert", str(RDS_CA_BUNDLE))
        params.setdefault("connect_timeout", "10")
        return make_conninfo(**{**params, **extra})

    def _rds_default_applies(self, params: dict[str, Any]) -> bool:
        return not self.sslmode and not params.get("sslmode") and is_rds_host(params.get("host"))

    @property
    def password(self) -> str | None:
        value = conninfo_to_dict(self.dsn).get("password")
        return str(value) if value else None

    @property
    def effective_sslmode(self) -> str:
        """The flag, else the DSN's, else verify-full for an RDS host, else libpq's default (prefer)."""
        params = conninfo_to_dict(self.dsn)
        if self._rds_default_applies(params):
            return RDS_SSLMODE
        return self.sslmode or str(params.get("sslmode") or "prefer")

    def describe(self) -> dict[str, Any]:
        """Where it connects, never the password."""
        params = conninfo_to_dict(self.dsn)
        return {
            "host": params.get("host", "(libpq default)"),
            "port": params.get("port", "5432"),
            "dbname": params.get("dbname", "(libpq default)"),
            "user": params.get("user", "(libpq default)"),
            "sslmode": self.effective_sslmode,
        }


def _masked_for_message(dsn: str) -> str:
    # The DSN could not be parsed, so the password cannot be located exactly: keep only the scheme.
    return dsn.split("://", 1)[0] + "://…" if "://" in dsn else "…"


@dataclass(frozen=True)
class Target:
    """The identity provider both commands look at.

    ``base_url`` is where this machine reaches the server (it may differ from the
    public hostname in the issuer). ``mgmt_url`` is Keycloak's management
    interface (default: ``base_url``'s host on port 9000); authentik serves its
    health endpoints on ``base_url``. ``realm`` (Keycloak) or ``app`` (authentik
    application slug) selects the OIDC issuer.
    """

    idp: str
    base_url: str
    realm: str | None = None
    app: str | None = None
    mgmt_url: str | None = None
    db: DbParams | None = None
    #: Seconds per HTTP request.
    http_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.idp not in IDPS:
            raise InputError("--idp", self.idp, f"one of {', '.join(IDPS)}")
        _check_url("--base-url", self.base_url)
        if self.mgmt_url is not None:
            _check_url("--mgmt-url", self.mgmt_url)
        if self.idp == "keycloak":
            if not self.realm:
                raise InputError("--realm", self.realm, "a realm name (required with --idp keycloak)")
            if self.app:
                raise InputError("--app", self.app, "not used with --idp keycloak; use --realm")
        else:
            if not self.app:
                raise InputError("--app", self.app, "an authentik application slug (required with --idp authentik)")
            if self.realm:
                raise InputError("--realm", self.realm, "not used with --idp authentik; use --app")
        if self.http_timeout <= 0:
            raise InputError("--http-timeout", self.http_timeout, "a positive number of seconds")

    @property
    def scope(self) -> str:
        """The realm or application slug."""
        return self.realm or self.app or ""

    @property
    def scope_label(self) -> str:
        return "realm" if self.idp == "keycloak" else "app"


def _check_url(field_name: str, value: str) -> None:
    check_http_url(field_name, value, "an http:// or https:// URL, e.g. https://sso.example.com")


@dataclass(frozen=True)
class ClientCredentials:
    """A confidential client for the client-credentials token check. The secret is never printed."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class BaselineParams:
    target: Target
    #: Optional: records which key signs tokens today (the key tokens in circulation need).
    client: ClientCredentials | None = None


@dataclass(frozen=True)
class VerifyParams:
    target: Target
    #: Compared byte for byte with the discovery document and the token; defaults to the baseline's.
    expected_issuer: str | None = None
    client: ClientCredentials | None = None
    #: The app version the database schema must be at; defaults to the baseline's.
    expect_version: str | None = None
    session_hygiene: str = "off"
    #: Fail when the newest stored event is older than this (seconds); None: report only.
    max_event_age_s: float | None = None

    def __post_init__(self) -> None:
        allowed = SESSION_HYGIENE[self.target.idp]
        if self.session_hygiene not in allowed:
            raise InputError(
                "--session-hygiene",
                self.session_hygiene,
                f"one of {', '.join(allowed)} for {self.target.idp}",
            )
        if self.target.idp == "keycloak" and self.session_hygiene == "logout-all" and self.client is None:
            raise InputError(
                "--session-hygiene",
                self.session_hygiene,
                "logout-all calls the admin API with the client's token: also pass "
                "--client-id and --client-secret-file",
            )
        if self.target.idp == "authentik" and self.session_hygiene == "clear-sessions" and self.target.db is None:
            raise InputError(
                "--session-hygiene",
                self.session_hygiene,
                "clear-sessions deletes sessions in the database: also pass --db-dsn",
            )
        if self.max_event_age_s is not None and self.max_event_age_s <= 0:
            raise InputError("--max-event-age", self.max_event_age_s, "a positive number of seconds")


@dataclass
class Baseline:
    """Production facts recorded by ``baseline``; ``verify --baseline`` compares against them.

    JSON on disk (see docs/verify.md). Unknown facts are None (e.g. no ``--db-dsn``
    at capture time: no schema, counts or events).
    """

    idp: str
    scope: str
    base_url: str
    captured_at: datetime
    issuer: str
    #: Every key ID in the JWKS, and those usable for signatures (use "sig" or no "use").
    jwks_kids: list[str]
    signing_kids: list[str]
    #: The key ID that signed a client-credentials token at capture time (None: no client given).
    token_kid: str | None = None
    #: The app version that last migrated the database (Keycloak migration_model,
    #: authentik_version_history).
    app_version: str | None = None
    #: Keycloak: last Liquibase changeset + count; authentik: last Django migration + count.
    schema: dict[str, Any] | None = None
    #: Keycloak: realms, users, clients (users/clients in the realm); authentik: brands, users, applications.
    counts: dict[str, int] | None = None
    newest_event_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": BASELINE_FORMAT,
            "version": BASELINE_VERSION,
            "idp": self.idp,
            "realm" if self.idp == "keycloak" else "app": self.scope,
            "base_url": self.base_url,
            "captured_at": iso(self.captured_at),
            "issuer": self.issuer,
            "jwks": {"kids": self.jwks_kids, "signing_kids": self.signing_kids, "token_kid": self.token_kid},
            "app_version": self.app_version,
            "schema": self.schema,
            "counts": self.counts,
            "newest_event_at": iso(self.newest_event_at),
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "--baseline") -> Baseline:
        allowed = f"a baseline file written by 'python -m scripts baseline' ({BASELINE_FORMAT} v{BASELINE_VERSION})"
        if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
            raise InputError("--baseline", source, allowed)
        if doc.get("version") != BASELINE_VERSION:
            raise InputError(
                "--baseline",
                source,
                f"{allowed}; this file is version {doc.get('version')!r}",
                hint="capture a new baseline with this version of idp-dr",
            )
        if doc.get("idp") not in ("keycloak", "authentik"):
            raise InputError("--baseline", source, f"{allowed}; wrong type: idp")
        try:
            idp = doc["idp"]
            jwks = doc["jwks"]
            baseline = cls(
                idp=idp,
                scope=doc["realm"] if idp == "keycloak" else doc["app"],
                base_url=doc["base_url"],
                captured_at=parse_time("captured_at", doc["captured_at"]),
                issuer=doc["issuer"],
                jwks_kids=jwks["kids"],
                signing_kids=jwks["signing_kids"],
                token_kid=jwks.get("token_kid"),
                app_version=doc.get("app_version"),
                schema=doc.get("schema"),
                counts=doc.get("counts"),
                newest_event_at=parse_time("newest_event_at", doc["newest_event_at"])
                if doc.get("newest_event_at")
                else None,
            )
        except (KeyError, TypeError, InputError) as exc:
            raise InputError("--baseline", source, f"{allowed}; missing or malformed field {exc}") from None
        wrong = baseline._mistyped_fields()
        if wrong:
            raise InputError("--baseline", source, f"{allowed}; wrong type: {', '.join(wrong)}")
        return baseline

    def _mistyped_fields(self) -> list[str]:
        """Fields a crafted or damaged file filled with the wrong type (compared with later as if right)."""

        def strings(values: Any) -> bool:
            return isinstance(values, list) and all(isinstance(v, str) for v in values)

        checks = {
            "idp": self.idp in ("keycloak", "authentik"),
            "realm/app": isinstance(self.scope, str) and bool(self.scope),
            "base_url": isinstance(self.base_url, str),
            "issuer": isinstance(self.issuer, str) and bool(self.issuer),
            "jwks.kids": strings(self.jwks_kids),
            "jwks.signing_kids": strings(self.signing_kids),
            "jwks.token_kid": self.token_kid is None or isinstance(self.token_kid, str),
            "app_version": self.app_version is None or isinstance(self.app_version, str),
            "schema": self.schema is None or isinstance(self.schema, dict),
            "counts": self.counts is None
            or (
                isinstance(self.counts, dict)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in self.counts.values())
            ),
        }
        return [name for name, ok in checks.items() if not ok]

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError):  # missing, a directory, unreadable, not text
            raise InputError("--baseline", str(path), "expected a readable baseline file") from None
        except json.JSONDecodeError as exc:
            raise InputError("--baseline", str(path), f"expected JSON ({exc})") from None
        return cls.from_dict(doc, source=str(path))
