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

from typing import Any

import psycopg

from scripts.errors import ExternalError, InputError
from scripts.report import Report
from scripts.timeutil import iso, utcnow
from scripts.verify.authentik import AuthentikAdapter
from scripts.verify.base import IdpAdapter
from scripts.verify.db_checks import (
    apply_hygiene,
    check_counts,
    check_db_keys,
    check_newest_event,
    check_schema,
    connect,
    db_check_names,
    first_line,
    hygiene_option,
    open_db,
    record_facts,
)
from scripts.verify.http import Http, HttpResult
from scripts.verify.http_checks import (
    JwksView,
    TokenView,
    check_baseline_overlap,
    fetch_discovery,
    fetch_jwks,
    ready_reason,
    request_token,
)
from scripts.verify.keycloak import KeycloakAdapter
from scripts.verify.model import Baseline, BaselineParams, ClientCredentials, Target, VerifyParams

_ADAPTERS: dict[str, IdpAdapter] = {"keycloak": KeycloakAdapter(), "authentik": AuthentikAdapter()}

#: The HTTP checks ``verify`` records first, in order, for every IdP.
_HTTP_CHECK_NAMES = (
    "readiness",
    "issuer",
    "jwks.signing_keys",
    "jwks.baseline_overlap",
    "token.signature",
    "token.issuer",
)

#: Every check ``verify`` records, in order, per IdP: derived from each adapter's database names
#: (``db.realms``/``db.clients`` for Keycloak, ``db.brands``/``db.applications`` for authentik).
CHECK_NAMES: dict[str, tuple[str, ...]] = {
    idp: (*_HTTP_CHECK_NAMES, "db.connect", *db_check_names(adapter), "sessions.hygiene")
    for idp, adapter in _ADAPTERS.items()
}


def adapter_for(idp: str) -> IdpAdapter:
    return _ADAPTERS[idp]


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
    discovery = fetch_discovery(http, adapter, target)
    if not discovery.ok or not isinstance(discovery.body, dict) or not discovery.body.get("issuer"):
        raise ExternalError(
            f"cannot read the discovery document at {discovery.url}: {discovery.reason()}",
            hint="check --base-url and --realm/--app, and that the server is up",
        )
    jwks = fetch_jwks(http, adapter, target, discovery)
    if not jwks.result.ok or not jwks.keys:
        raise ExternalError(f"cannot read the JWKS at {jwks.url}: {jwks.result.reason()}")
    facts = None
    if target.db is not None:
        # Before the token request: that request is itself an event.
        ignore = params.client.client_id if params.client else None
        try:
            with connect(target) as conn:
                facts = adapter.read_db(conn, target, ignore_client_id=ignore)
        except psycopg.Error as exc:
            raise ExternalError(
                f"cannot read the database ({first_line(exc)})",
                hint="check --db-dsn, the role's rights and --db-sslmode",
            ) from None
        if not facts.scope_exists:
            raise ExternalError(f"{target.scope_label} {target.scope!r} is not in the database")
    token_kid = None
    if params.client is not None:
        token = request_token(http, adapter, target, discovery, params.client, jwks)
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
    expected_issuer = _expected_issuer(params, baseline)
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
    _check_readiness(report, http, adapter, target)
    discovery = _check_issuer(report, http, adapter, params, baseline, expected_issuer)
    jwks = _check_jwks(report, http, adapter, target, discovery, baseline)
    # The database is read before any token is requested: a token request is itself an
    # event (Keycloak CLIENT_LOGIN) and must not pass for the newest data the restore kept.
    conn, facts = open_db(report, params, adapter)
    try:
        token = _check_token(report, http, adapter, params, discovery, jwks, expected_issuer)
        access_token = token.access_token if token and token.access_token else None
        if facts is not None:
            record_facts(report, facts)
            check_schema(report, params, adapter, facts, baseline, http, access_token)
            check_db_keys(report, target, facts, baseline, jwks)
            check_counts(report, target, adapter, facts, baseline)
            check_newest_event(report, params, facts, baseline)
        _check_session_hygiene(report, params, adapter, http, access_token, conn, facts)
    finally:
        if conn is not None:
            conn.close()
    order = CHECK_NAMES[target.idp]
    report.checks.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))


def _expected_issuer(params: VerifyParams, baseline: Baseline | None) -> str:
    """The issuer to compare with: --expected-issuer or the baseline's (a baseline of this target)."""
    target = params.target
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
    return expected_issuer


def _check_readiness(report: Report, http: Http, adapter: IdpAdapter, target: Target) -> None:
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
        f"{ready.url} answered ready" if ready_ok else f"{ready.url} is not ready: {ready_reason(ready)}",
        **evidence,
    )


def _check_issuer(
    report: Report,
    http: Http,
    adapter: IdpAdapter,
    params: VerifyParams,
    baseline: Baseline | None,
    expected_issuer: str,
) -> HttpResult:
    """The discovery document's issuer, byte for byte; returns the discovery answer."""
    discovery = fetch_discovery(http, adapter, params.target)
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
        return discovery
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
    return discovery


def _check_jwks(
    report: Report,
    http: Http,
    adapter: IdpAdapter,
    target: Target,
    discovery: HttpResult,
    baseline: Baseline | None,
) -> JwksView:
    jwks = fetch_jwks(http, adapter, target, discovery)
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
    check_baseline_overlap(report, baseline, jwks)
    return jwks


def _check_token(
    report: Report,
    http: Http,
    adapter: IdpAdapter,
    params: VerifyParams,
    discovery: HttpResult,
    jwks: JwksView,
    expected_issuer: str,
) -> TokenView | None:
    """A client-credentials token whose signature verifies against the JWKS and whose iss matches."""
    if params.client is None:
        for name in ("token.signature", "token.issuer"):
            report.check(name, None, "no --client-id given: no token requested")
        return None
    token = request_token(http, adapter, params.target, discovery, params.client, jwks)
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
    return token


def _check_session_hygiene(
    report: Report,
    params: VerifyParams,
    adapter: IdpAdapter,
    http: Http,
    access_token: str | None,
    conn: Any,
    facts: Any,
) -> None:
    if params.session_hygiene != "off":
        apply_hygiene(report, params, adapter, http, access_token, conn)
        return
    report.check(
        "sessions.hygiene",
        None,
        "off (default): sessions a point-in-time restore revived stay valid until they "
        f"expire; --session-hygiene {hygiene_option(params.target.idp)} ends them",
        policy="off",
        sessions=facts.sessions if facts else None,
    )


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
