"""What the IdP's database shows: connection and TLS, schema, keys, counts, newest event, session hygiene."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from scripts.report import Report
from scripts.timeutil import iso, utcnow
from scripts.verify.base import DbFacts, IdpAdapter
from scripts.verify.http import Http
from scripts.verify.http_checks import JwksView
from scripts.verify.model import (
    TLS_REQUIRED_MODES,
    Baseline,
    Target,
    VerifyParams,
)


@contextlib.contextmanager
def connect(target: Target) -> Iterator[psycopg.Connection]:
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


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def db_check_names(adapter: IdpAdapter) -> list[str]:
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


def open_db(
    report: Report, params: VerifyParams, adapter: IdpAdapter
) -> tuple[psycopg.Connection | None, DbFacts | None]:
    """db.connect, db.tls and reading the facts. Records skips/failures for what cannot be read.

    Returns an open connection (for session hygiene; the caller closes it) and the facts.
    """
    target = params.target
    if target.db is None:
        report.check("db.connect", None, "no --db-dsn: database checks not run")
        for name in db_check_names(adapter):
            report.check(name, None, "no --db-dsn")
        return None, None
    where = target.db.describe()
    try:
        conn = psycopg.connect(target.db.conninfo(), autocommit=True)
    except psycopg.Error as exc:
        report.check("db.connect", False, f"cannot connect: {first_line(exc)}", **where)
        for name in db_check_names(adapter):
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
        report.check("db.schema_version", False, f"cannot read {target.idp}'s tables: {first_line(exc)}", **where)
        for name in db_check_names(adapter)[2:]:
            report.check(name, None, f"not checked: {target.idp}'s tables unreadable")
        conn.close()
        return None, None
    except BaseException:
        conn.close()
        raise
    return conn, facts


def record_facts(report: Report, facts: DbFacts) -> None:
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


def check_schema(
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


def check_db_keys(report: Report, target: Target, facts: DbFacts, baseline: Baseline | None, jwks: JwksView) -> None:
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


def check_counts(
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


def check_newest_event(report: Report, params: VerifyParams, facts: DbFacts, baseline: Baseline | None) -> None:
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


def hygiene_option(idp: str) -> str:
    return "logout-all" if idp == "keycloak" else "clear-sessions"


def apply_hygiene(
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
            f"{params.session_hygiene} failed: {first_line(exc)}",
            {"policy": params.session_hygiene},
        )
    report.check("sessions.hygiene", ok, message, **evidence)
    if ok:
        report.notes.append(f"session hygiene applied: {params.session_hygiene} at {iso(utcnow())}")
