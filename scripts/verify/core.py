"""``baseline`` and ``verify`` as library calls: the proof that a restored IdP is the same IdP.

:func:`verify` records one named check per fact (see :data:`CHECK_NAMES` and
docs/verify.md), each with its evidence, in a :class:`~scripts.report.Report`.
A check passes, fails, or is skipped (not applicable, e.g. no ``--db-dsn``); the
command exits 0 only when none failed. Nothing here raises for a broken server:
an unreachable, hung or wrong IdP is a failed check. Only bad input raises
(:class:`~scripts.errors.InputError`, before anything is contacted).

:func:`capture_baseline` records the same facts from production so a later
``verify`` can prove continuity: same issuer, the keys that signed tokens in
circulation, the same schema, no fewer realms/users/clients, no older newest event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from scripts.errors import ExternalError, InputError
from scripts.report import Report
from scripts.timeutil import iso, utcnow
from scripts.verify.authentik import AuthentikAdapter
from scripts.verify.base import DbFacts, IdpAdapter
from scripts.verify.http import Http, HttpResult, join, rebase
from scripts.verify.keycloak import KeycloakAdapter
from scripts.verify.model import (
    TLS_REQUIRED_MODES,
    Baseline,
    BaselineParams,
    ClientCredentials,
    Target,
    VerifyParams,
)

#: Signature algorithms a token may use. Symmetric (HS*) and "none" are refused: a
#: JWKS cannot vouch for them.
ASYMMETRIC_ALGS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)

#: Every check ``verify`` records, in order. ``db.<scope>`` and ``db.<clients>`` are
#: ``db.realms``/``db.clients`` for Keycloak and ``db.brands``/``db.applications`` for authentik.
CHECK_NAMES = {
    "keycloak": (
        "readiness",
        "issuer",
        "jwks.signing_keys",
        "jwks.baseline_overlap",
        "token.signature",
        "token.issuer",
        "db.connect",
        "db.tls",
        "db.schema_version",
        "db.signing_keys",
        "db.realms",
        "db.users",
        "db.clients",
        "db.newest_event",
        "sessions.hygiene",
    ),
    "authentik": (
        "readiness",
        "issuer",
        "jwks.signing_keys",
        "jwks.baseline_overlap",
        "token.signature",
        "token.issuer",
        "db.connect",
        "db.tls",
        "db.schema_version",
        "db.signing_keys",
        "db.brands",
        "db.users",
        "db.applications",
        "db.newest_event",
        "sessions.hygiene",
    ),
}

_ADAPTERS: dict[str, IdpAdapter] = {"keycloak": KeycloakAdapter(), "authentik": AuthentikAdapter()}


def adapter_for(idp: str) -> IdpAdapter:
    return _ADAPTERS[idp]


# -- what the HTTP side shows ------------------------------------------------------
@dataclass
class JwksView:
    result: HttpResult
    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    keyset: KeySet | None = None
    unusable: list[dict[str, Any]] = field(default_factory=list)
    #: The jwks_uri the discovery document advertises (None: it was not readable).
    advertised: str | None = None

    def evidence(self) -> dict[str, Any]:
        out = {**self.result.evidence(), "keys": self.keys}
        if self.advertised:
            out["jwks_uri"] = self.advertised
        if self.unusable:
            out["unusable_keys"] = self.unusable
        return out

    @property
    def kids(self) -> list[str]:
        return sorted({k["kid"] for k in self.keys if k.get("kid")})

    @property
    def signing_kids(self) -> list[str]:
        return sorted(
            {
                k["kid"]
                for k in self.keys
                if k.get("kid") and k.get("use", "sig") == "sig" and k.get("kty") in ("RSA", "EC", "OKP")
            }
        )


@dataclass
class TokenView:
    ok: bool
    message: str
    evidence: dict[str, Any]
    access_token: str | None = None
    kid: str | None = None
    claims: dict[str, Any] | None = None
    signature_ok: bool = False


def _discovery(http: Http, adapter: IdpAdapter, target: Target) -> HttpResult:
    return http.get_json(adapter.discovery_url(target))


def _endpoint(discovery: HttpResult, key: str, target: Target, fallback_path: str) -> tuple[str, str | None]:
    """(URL to call, URL the discovery document advertises)."""
    advertised = discovery.body.get(key) if discovery.ok and isinstance(discovery.body, dict) else None
    if isinstance(advertised, str) and advertised:
        return rebase(advertised, target.base_url), advertised
    return join(target.base_url, fallback_path), None


def _jwks(http: Http, adapter: IdpAdapter, target: Target, discovery: HttpResult) -> JwksView:
    url, advertised = _endpoint(discovery, "jwks_uri", target, adapter.fallback_jwks_path(target))
    result = http.get_json(url)
    view = JwksView(result=result, url=url, advertised=advertised)
    if not result.ok or not isinstance(result.body, dict) or not isinstance(result.body.get("keys"), list):
        return view
    usable = []
    for key in result.body["keys"]:
        if not isinstance(key, dict):
            continue
        view.keys.append({k: key.get(k) for k in ("kid", "kty", "alg", "use", "crv") if key.get(k)})
        try:
            KeySet.import_key_set({"keys": [key]})
            usable.append(key)
        except (JoseError, ValueError, TypeError) as exc:
            view.unusable.append({"kid": key.get("kid"), "error": str(exc)})
    if usable:
        view.keyset = KeySet.import_key_set({"keys": usable})
    return view


def _token(
    http: Http,
    adapter: IdpAdapter,
    target: Target,
    discovery: HttpResult,
    client: ClientCredentials,
    jwks: JwksView,
) -> TokenView:
    url, advertised = _endpoint(discovery, "token_endpoint", target, adapter.fallback_token_path(target))
    data = {"grant_type": "client_credentials"}
    scope = getattr(adapter, "token_scope", None)
    if scope:
        data["scope"] = scope
    result = http.post_form(url, data, auth=(client.client_id, client.client_secret))
    evidence: dict[str, Any] = {**result.evidence(), "client_id": client.client_id}
    if advertised:
        evidence["token_endpoint"] = advertised
    body = result.body if isinstance(result.body, dict) else {}
    if not result.ok or not isinstance(body.get("access_token"), str):
        oauth_error = body.get("error")
        if oauth_error:
            evidence["oauth_error"] = oauth_error
            if body.get("error_description"):
                evidence["oauth_error_description"] = str(body["error_description"])[:200]
        why = f"{result.reason()}" + (f" ({oauth_error})" if oauth_error else "")
        return TokenView(False, f"no client-credentials token for {client.client_id}: {why}", evidence)
    access_token = body["access_token"]
    try:
        header = extract_compact(access_token.encode()).headers()
    except (JoseError, ValueError) as exc:
        return TokenView(False, f"the access token is not a signed JWT ({exc})", evidence, access_token=access_token)
    kid, alg = header.get("kid"), header.get("alg")
    evidence.update(kid=kid, alg=alg, expires_in=body.get("expires_in"))
    view = TokenView(False, "", evidence, access_token=access_token, kid=kid)
    if alg not in ASYMMETRIC_ALGS:
        view.message = f"the token is signed with {alg!r}; only asymmetric algorithms can be checked against a JWKS"
        return view
    if jwks.keyset is None:
        view.message = f"no usable key in the JWKS ({jwks.result.reason()}) to check the token's signature"
        return view
    try:
        decoded = jwt.decode(access_token, jwks.keyset, algorithms=[alg])
    except InvalidKeyIdError:
        view.message = f"the token is signed with key {kid!r}, which the JWKS does not publish"
        return view
    except BadSignatureError:
        view.message = f"the token's signature does not verify against the JWKS key {kid!r}"
        return view
    except JoseError as exc:
        view.message = f"the token could not be verified: {exc}"
        return view
    claims = dict(decoded.claims)
    view.claims = {k: claims.get(k) for k in ("iss", "azp", "aud", "sub", "iat", "exp") if k in claims}
    evidence["claims"] = view.claims
    try:
        jwt.JWTClaimsRegistry(leeway=60).validate(claims)
    except (ExpiredTokenError, InvalidClaimError) as exc:
        view.message = f"the token's signature verifies, but its time claims do not: {exc}"
        return view
    view.ok = view.signature_ok = True
    view.message = f"signed by {kid} ({alg}), verified against the JWKS"
    return view


# -- the database --------------------------------------------------------------------
@contextlib.contextmanager
def _connect(target: Target) -> Iterator[psycopg.Connection]:
    assert target.db is not None
    conn = psycopg.connect(target.db.conninfo(), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _tls_info(conn: psycopg.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    if row is None:
        return {"ssl": False}
    return {"ssl": bool(row[0]), "tls_version": row[1], "cipher": row[2]}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- baseline --------------------------------------------------------------------------
def capture_baseline(params: BaselineParams, report: Report | None = None) -> Baseline:
    """Record production facts (issuer, key IDs, schema, counts, newest event).

    Raises ExternalError when a fact cannot be read: a baseline with holes would
    make every later ``verify`` compare against nothing.
    """
    target = params.target
    adapter = adapter_for(target.idp)
    http = Http(target.http_timeout)
    if report is not None:
        _register_secrets(report, params.client, target)
    discovery = _discovery(http, adapter, target)
    if not discovery.ok or not isinstance(discovery.body, dict) or not discovery.body.get("issuer"):
        raise ExternalError(
            f"cannot read the discovery document at {discovery.url}: {discovery.reason()}",
            hint="check --base-url and --realm/--app, and that the server is up",
        )
    jwks = _jwks(http, adapter, target, discovery)
    if not jwks.result.ok or not jwks.keys:
        raise ExternalError(f"cannot read the JWKS at {jwks.url}: {jwks.result.reason()}")
    facts = None
    if target.db is not None:
        # Before the token request: that request is itself an event.
        ignore = params.client.client_id if params.client else None
        try:
            with _connect(target) as conn:
                facts = adapter.read_db(conn, target, ignore_client_id=ignore)
        except psycopg.Error as exc:
            raise ExternalError(
                f"cannot read the database ({_first_line(exc)})",
                hint="check --db-dsn, the role's rights and --db-sslmode",
            ) from None
        if not facts.scope_exists:
            raise ExternalError(f"{target.scope_label} {target.scope!r} is not in the database")
    token_kid = None
    if params.client is not None:
        token = _token(http, adapter, target, discovery, params.client, jwks)
        if not token.ok:
            raise ExternalError(f"client-credentials token check failed at baseline time: {token.message}")
        token_kid = token.kid
    baseline = Baseline(
        idp=target.idp,
        scope=target.scope,
        base_url=target.base_url,
        captured_at=utcnow(),
        issuer=discovery.body["issuer"],
        jwks_kids=jwks.kids,
        signing_kids=jwks.signing_kids,
        token_kid=token_kid,
    )
    if facts is not None:
        baseline.app_version = facts.app_version
        baseline.schema = facts.schema
        baseline.counts = facts.counts
        baseline.newest_event_at = facts.newest_event_at
    return baseline


# -- verify ----------------------------------------------------------------------------
def verify(params: VerifyParams, report: Report, baseline: Baseline | None = None) -> None:
    """Run every check against ``params.target`` and record it in ``report``.

    The expected issuer is ``params.expected_issuer`` or the baseline's; one of
    them is required (InputError otherwise).
    """
    target = params.target
    adapter = adapter_for(target.idp)
    if baseline is not None and (baseline.idp != target.idp or baseline.scope != target.scope):
        raise InputError(
            "--baseline",
            f"{baseline.idp} {target.scope_label} {baseline.scope!r}",
            f"a baseline of {target.idp} {target.scope_label} {target.scope!r}",
        )
    expected_issuer = params.expected_issuer or (baseline.issuer if baseline else None)
    if not expected_issuer:
        raise InputError(
            "--expected-issuer",
            None,
            "the issuer production tokens carry, e.g. https://sso.example.com/realms/prod (or pass --baseline FILE)",
        )
    _register_secrets(report, params.client, target)
    http = Http(target.http_timeout)
    report.result.update(
        {
            "idp": target.idp,
            target.scope_label: target.scope,
            "base_url": target.base_url,
            "expected_issuer": expected_issuer,
            "baseline_captured_at": iso(baseline.captured_at) if baseline else None,
        }
    )

    # readiness
    ready = http.get_json(adapter.readiness_url(target))
    ready_ok = adapter.readiness_ok(ready)
    evidence = ready.evidence()
    if isinstance(ready.body, dict):
        evidence["status"] = ready.body.get("status")
        if isinstance(ready.body.get("checks"), list):
            evidence["checks"] = {c.get("name"): c.get("status") for c in ready.body["checks"] if isinstance(c, dict)}
    report.check(
        "readiness",
        ready_ok,
        f"{ready.url} answered ready" if ready_ok else f"{ready.url} is not ready: {_ready_reason(ready)}",
        **evidence,
    )

    # issuer
    discovery = _discovery(http, adapter, target)
    observed = discovery.body.get("issuer") if discovery.ok and isinstance(discovery.body, dict) else None
    report.result["issuer"] = observed
    if observed is None:
        report.check(
            "issuer",
            False,
            f"no discovery document at {discovery.url}: {discovery.reason()}",
            expected=expected_issuer,
            **discovery.evidence(),
        )
    else:
        same = observed.encode() == expected_issuer.encode()
        report.check(
            "issuer",
            same,
            f"issuer is {observed}" if same else f"issuer is {observed!r}, expected {expected_issuer!r}",
            expected=expected_issuer,
            observed=observed,
            source="baseline" if (baseline and not params.expected_issuer) else "--expected-issuer",
            **discovery.evidence(),
        )

    # JWKS
    jwks = _jwks(http, adapter, target, discovery)
    report.result["jwks_kids"] = jwks.kids
    jwks_evidence = jwks.evidence()
    if not jwks.result.ok:
        report.check("jwks.signing_keys", False, f"no JWKS at {jwks.url}: {jwks.result.reason()}", **jwks_evidence)
    else:
        n = len(jwks.signing_kids)
        report.check(
            "jwks.signing_keys",
            n > 0,
            f"{n} signing key{'s' if n != 1 else ''} published" if n else "the JWKS has no signing key",
            **jwks_evidence,
        )
    _check_baseline_overlap(report, baseline, jwks)

    # The database is read before any token is requested: a token request is itself an
    # event (Keycloak CLIENT_LOGIN) and must not pass for the newest data the restore kept.
    conn, facts = _open_db(report, params, adapter)

    # token
    token: TokenView | None = None
    if params.client is None:
        for name in ("token.signature", "token.issuer"):
            report.check(name, None, "no --client-id given: no token requested")
    else:
        token = _token(http, adapter, target, discovery, params.client, jwks)
        report.check("token.signature", token.ok, token.message, **token.evidence)
        iss = (token.claims or {}).get("iss")
        if token.claims is None:
            report.check("token.issuer", False, "no verified token to read 'iss' from", expected=expected_issuer)
        else:
            same = isinstance(iss, str) and iss.encode() == expected_issuer.encode()
            report.check(
                "token.issuer",
                same,
                f"token iss is {iss}" if same else f"token iss is {iss!r}, expected {expected_issuer!r}",
                expected=expected_issuer,
                observed=iss,
            )
        report.result["token_kid"] = token.kid
    access_token = token.access_token if token and token.access_token else None

    try:
        if facts is not None:
            _record_facts(report, facts)
            _check_schema(report, params, adapter, facts, baseline, http, access_token)
            _check_db_keys(report, target, facts, baseline, jwks)
            _check_counts(report, target, adapter, facts, baseline)
            _check_newest_event(report, params, facts, baseline)
        if params.session_hygiene == "off":
            report.check(
                "sessions.hygiene",
                None,
                "off (default): sessions a point-in-time restore revived stay valid until they "
                f"expire; --session-hygiene {_hygiene_option(target.idp)} ends them",
                policy="off",
                sessions=facts.sessions if facts else None,
            )
        else:
            _apply_hygiene(report, params, adapter, http, access_token, conn)
    finally:
        if conn is not None:
            conn.close()
    order = CHECK_NAMES[target.idp]
    report.checks.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))


def _hygiene_option(idp: str) -> str:
    return "logout-all" if idp == "keycloak" else "clear-sessions"


def _ready_reason(result: HttpResult) -> str:
    if result.error:
        return result.error
    if isinstance(result.body, dict) and result.body.get("status"):
        down = [
            c.get("name") for c in result.body.get("checks") or [] if isinstance(c, dict) and c.get("status") != "UP"
        ]
        return f"HTTP {result.status}, status {result.body['status']}" + (f" ({', '.join(down)})" if down else "")
    return f"HTTP {result.status}"


def _check_baseline_overlap(report: Report, baseline: Baseline | None, jwks: JwksView) -> None:
    if baseline is None:
        report.check("jwks.baseline_overlap", None, "no --baseline: no key IDs to compare with")
        return
    now = set(jwks.signing_kids)
    before = set(baseline.signing_kids)
    kept = sorted(before & now)
    evidence = {
        "baseline_signing_kids": sorted(before),
        "signing_kids": sorted(now),
        "kept": kept,
        "missing": sorted(before - now),
        "new": sorted(now - before),
        "baseline_token_kid": baseline.token_kid,
    }
    if not jwks.result.ok:
        report.check("jwks.baseline_overlap", False, "no JWKS to compare with the baseline", **evidence)
    elif not kept:
        report.check(
            "jwks.baseline_overlap",
            False,
            f"none of the baseline's {len(before)} signing keys is published any more: tokens issued "
            "before the restore no longer validate",
            **evidence,
        )
    elif baseline.token_kid and baseline.token_kid not in now:
        report.check(
            "jwks.baseline_overlap",
            False,
            f"the key that signed tokens at baseline time ({baseline.token_kid}) is no longer published",
            **evidence,
        )
    else:
        report.check(
            "jwks.baseline_overlap",
            True,
            f"{len(kept)} of the baseline's {len(before)} signing keys still published"
            + (f", including the one that signed tokens ({baseline.token_kid})" if baseline.token_kid else ""),
            **evidence,
        )


def _db_check_names(adapter: IdpAdapter) -> list[str]:
    scope, _users, clients = adapter.count_names
    return [
        "db.tls",
        "db.schema_version",
        "db.signing_keys",
        f"db.{scope}",
        "db.users",
        f"db.{clients}",
        "db.newest_event",
    ]


def _open_db(
    report: Report, params: VerifyParams, adapter: IdpAdapter
) -> tuple[psycopg.Connection | None, DbFacts | None]:
    """db.connect, db.tls and reading the facts. Records skips/failures for what cannot be read.

    Returns an open connection (for session hygiene; the caller closes it) and the facts.
    """
    target = params.target
    if target.db is None:
        report.check("db.connect", None, "no --db-dsn: database checks not run")
        for name in _db_check_names(adapter):
            report.check(name, None, "no --db-dsn")
        return None, None
    where = target.db.describe()
    try:
        conn = psycopg.connect(target.db.conninfo(), autocommit=True)
    except psycopg.Error as exc:
        report.check("db.connect", False, f"cannot connect: {_first_line(exc)}", **where)
        for name in _db_check_names(adapter):
            report.check(name, None, "not checked: no database connection")
        return None, None
    try:
        tls = _tls_info(conn)
        report.check(
            "db.connect",
            True,
            f"connected to {where['host']}:{where['port']}/{where['dbname']} as {where['user']}",
            **where,
            server_version=conn.info.server_version,
        )
        sslmode = target.db.effective_sslmode
        tls_text = f"TLS {tls.get('tls_version')} ({tls.get('cipher')})" if tls["ssl"] else "not encrypted"
        if sslmode in TLS_REQUIRED_MODES:
            report.check("db.tls", tls["ssl"], f"{tls_text}, sslmode={sslmode}", **tls, sslmode=sslmode)
        else:
            report.check(
                "db.tls",
                None,
                f"TLS not required (sslmode={sslmode}); connection {tls_text}",
                **tls,
                sslmode=sslmode,
            )
        ignore = params.client.client_id if params.client else None
        facts = adapter.read_db(conn, target, ignore_client_id=ignore)
    except psycopg.Error as exc:
        report.check("db.schema_version", False, f"cannot read {target.idp}'s tables: {_first_line(exc)}", **where)
        for name in _db_check_names(adapter)[2:]:
            report.check(name, None, f"not checked: {target.idp}'s tables unreadable")
        conn.close()
        return None, None
    except BaseException:
        conn.close()
        raise
    return conn, facts


def _record_facts(report: Report, facts: DbFacts) -> None:
    age = (utcnow() - facts.newest_event_at).total_seconds() if facts.newest_event_at else None
    report.result.update(
        {
            "app_version": facts.app_version,
            "schema": facts.schema,
            "counts": facts.counts,
            "newest_event_at": iso(facts.newest_event_at),
            "newest_event_age_s": None if age is None else round(age, 1),
            "sessions": facts.sessions,
        }
    )


def _check_schema(
    report: Report,
    params: VerifyParams,
    adapter: IdpAdapter,
    facts: DbFacts,
    baseline: Baseline | None,
    http: Http,
    access_token: str | None,
) -> None:
    target = params.target
    evidence: dict[str, Any] = {"app_version": facts.app_version, "schema": facts.schema}
    if params.expect_version:
        expected, source = params.expect_version, "--expect-version"
    elif baseline is not None and baseline.app_version:
        expected, source = baseline.app_version, "baseline"
    else:
        expected, source = adapter.app_reported_version(http, target, access_token)
        if expected is None:
            report.check(
                "db.schema_version",
                None,
                f"database last migrated by {target.idp} {facts.app_version}; no expected version "
                f"({source}): pass --expect-version or --baseline",
                **evidence,
            )
            return
    evidence.update(expected_version=expected, expected_from=source)
    problems = []
    if facts.app_version != expected:
        problems.append(f"the database was last migrated by {target.idp} {facts.app_version}, expected {expected}")
    if baseline is not None and baseline.schema:
        evidence["baseline_schema"] = baseline.schema
        for key, value in baseline.schema.items():
            if facts.schema.get(key) != value:
                problems.append(f"{key} is {facts.schema.get(key)!r}, the baseline has {value!r}")
    detail = ", ".join(f"{k} {v}" for k, v in facts.schema.items())
    if problems:
        report.check("db.schema_version", False, "; ".join(problems), **evidence)
    else:
        report.check(
            "db.schema_version",
            True,
            f"{target.idp} {facts.app_version} ({detail}), as expected from {source}",
            **evidence,
        )


def _check_db_keys(report: Report, target: Target, facts: DbFacts, baseline: Baseline | None, jwks: JwksView) -> None:
    usable = [k for k in facts.keys if k.use == "sig" and k.enabled and k.active and k.kid]
    db_kids = {k.kid for k in facts.keys if k.kid}
    evidence: dict[str, Any] = {"keys": [k.to_dict() for k in facts.keys]}
    problems = []
    if not facts.scope_exists:
        problems.append(f"{target.scope_label} {target.scope!r} is not in the database")
    elif not usable:
        problems.append(f"no enabled, active signing key in the database for {target.scope_label} {target.scope}")
    if jwks.result.ok:
        unknown = sorted(set(jwks.kids) - db_kids)
        evidence["jwks_kids_not_in_db"] = unknown
        if unknown and facts.scope_exists:
            problems.append(
                f"the server publishes key IDs the database does not hold ({', '.join(unknown)}): "
                "is it running on another database?"
            )
    if baseline is not None:
        kept = sorted(set(baseline.signing_kids) & db_kids)
        evidence["baseline_kids_in_db"] = kept
        if not kept:
            problems.append("none of the baseline's signing keys is in the database")
        elif baseline.token_kid and baseline.token_kid not in db_kids:
            problems.append(
                f"the key that signed tokens at baseline time ({baseline.token_kid}) is not in the database"
            )
    if problems:
        report.check("db.signing_keys", False, "; ".join(problems), **evidence)
    else:
        report.check(
            "db.signing_keys",
            True,
            f"{len(usable)} enabled signing key{'s' if len(usable) != 1 else ''} in the database"
            + ("; every published key ID is among them" if jwks.result.ok else ""),
            **evidence,
        )


def _check_counts(
    report: Report, target: Target, adapter: IdpAdapter, facts: DbFacts, baseline: Baseline | None
) -> None:
    scope_name, _, clients_name = adapter.count_names
    base_counts = (baseline.counts or {}) if baseline else {}
    for name in adapter.count_names:
        have = facts.counts.get(name, 0)
        before = base_counts.get(name)
        evidence: dict[str, Any] = {"count": have, "baseline": before}
        problems = []
        if name == scope_name and target.idp == "keycloak" and not facts.scope_exists:
            problems.append(f"realm {target.scope!r} is not in the database")
        if name == clients_name and target.idp == "authentik" and not facts.scope_exists:
            problems.append(f"application {target.scope!r} is not in the database")
        if have < 1:
            problems.append(f"no {name}")
        if before is not None and have < before:
            problems.append(f"{have} {name}, fewer than the baseline's {before}")
        where = f" in realm {target.scope}" if target.idp == "keycloak" and name != "realms" else ""
        if problems:
            report.check(f"db.{name}", False, "; ".join(problems), **evidence)
        else:
            report.check(
                f"db.{name}",
                True,
                f"{have} {name if have != 1 else name[:-1]}{where}"
                + (f" (baseline {before})" if before is not None else ""),
                **evidence,
            )


def _check_newest_event(report: Report, params: VerifyParams, facts: DbFacts, baseline: Baseline | None) -> None:
    newest = facts.newest_event_at
    before = baseline.newest_event_at if baseline else None
    evidence: dict[str, Any] = {"newest_event_at": iso(newest), "baseline_newest_event_at": iso(before)}
    if newest is None:
        if before is not None:
            report.check(
                "db.newest_event",
                False,
                f"no events in the database; the baseline saw events up to {iso(before)}",
                **evidence,
            )
        else:
            report.check(
                "db.newest_event",
                None,
                "no events stored (enable event storage to get data-loss evidence)",
                **evidence,
            )
        return
    age = (utcnow() - newest).total_seconds()
    evidence["age_s"] = round(age, 1)
    problems = []
    if before is not None and newest < before:
        lost = (before - newest).total_seconds()
        evidence["missing_window_s"] = round(lost, 1)
        problems.append(
            f"newest event {iso(newest)} is {lost:.0f} s older than the baseline's {iso(before)}: "
            "events the baseline saw are gone"
        )
    if params.max_event_age_s is not None and age > params.max_event_age_s:
        problems.append(f"newest event is {age:.0f} s old, more than --max-event-age {params.max_event_age_s:g} s")
    if problems:
        report.check("db.newest_event", False, "; ".join(problems), **evidence)
    else:
        report.check(
            "db.newest_event",
            True,
            f"newest event {iso(newest)} ({age:.0f} s ago)"
            + (", not older than the baseline's" if before is not None else ""),
            **evidence,
        )


def _apply_hygiene(
    report: Report,
    params: VerifyParams,
    adapter: IdpAdapter,
    http: Http,
    access_token: str | None,
    conn: psycopg.Connection | None,
) -> None:
    try:
        ok, message, evidence = adapter.apply_session_hygiene(
            params.session_hygiene,
            http=http,
            target=params.target,
            token=access_token,
            conn=conn,
            client=params.client,
        )
    except psycopg.Error as exc:
        ok, message, evidence = (
            False,
            f"{params.session_hygiene} failed: {_first_line(exc)}",
            {"policy": params.session_hygiene},
        )
    report.check("sessions.hygiene", ok, message, **evidence)
    if ok:
        report.notes.append(f"session hygiene applied: {params.session_hygiene} at {iso(utcnow())}")


def _register_secrets(report: Report, client: ClientCredentials | None, target: Target) -> None:
    if client is not None:
        report.register_secret(client.client_secret)
    if target.db is not None:
        report.register_secret(target.db.password)


def describe_baseline(baseline: Baseline) -> dict[str, Any]:
    """A short summary for reports (the whole baseline is in its file)."""
    return {
        "issuer": baseline.issuer,
        "signing_kids": baseline.signing_kids,
        "token_kid": baseline.token_kid,
        "app_version": baseline.app_version,
        "schema": baseline.schema,
        "counts": baseline.counts,
        "newest_event_at": iso(baseline.newest_event_at),
        "captured_at": iso(baseline.captured_at),
    }
