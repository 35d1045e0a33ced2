"""Create (or repair) the IdP's database role: log in with its password, own its database, nothing more.

RDS creates the database and a master user whose password it manages; the IdP logs in as its own
role with ``dbAppPassword``. This makes that true, and keeps it true when re-run:

1. **inspect** the role and the database as they are (and try the app's login);
2. **role**: create it, or set the password when the login failed (as a SCRAM verifier computed
   here, so the clear password never reaches the server's statement log);
3. **attributes**: LOGIN only (no CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS), no role memberships;
4. **owner**: the role owns its database (what Keycloak's and authentik's migrations need);
5. **verify**: the app logs in, owns the database, and holds nothing else.

Each phase changes something only when the inspection found it needed; a re-run on a correct
database changes nothing (``changes`` is empty). A superuser app role is refused: the master user
of RDS cannot take that away, and an IdP must not run as one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from scripts.errors import ExternalError, RefusedError
from scripts.report import Report

#: Role attributes the IdP's role must not have (all settable by RDS's master user).
EXTRA_ATTRIBUTES = {
    "rolcreatedb": "NOCREATEDB",
    "rolcreaterole": "NOCREATEROLE",
    "rolreplication": "NOREPLICATION",
    "rolbypassrls": "NOBYPASSRLS",
}


@dataclass(frozen=True)
class DbBootstrapRequest:
    """``admin_conninfo``: a libpq connection string for the master (or any CREATEROLE) user."""

    admin_conninfo: str
    dbname: str
    app_username: str
    app_password: str = field(repr=False)
    dry_run: bool = False


@dataclass
class RoleState:
    exists: bool
    login_ok: bool
    login_error: str | None
    superuser: bool = False
    extra_attributes: list[str] = field(default_factory=list)
    memberships: list[str] = field(default_factory=list)
    can_login: bool = True
    database_owner: str | None = None
    #: The admin connection's own role (the master user): never the one made into the IdP's.
    admin_user: str | None = None


def bootstrap_db(req: DbBootstrapRequest, report: Report) -> dict[str, Any]:
    """Run the phases; return what changed (``changes``) and the final state."""
    report.register_secret(req.app_password)
    with report.step("inspect", database=req.dbname, role=req.app_username):
        state = _inspect(req)
    if state.database_owner is None:
        raise ExternalError(f"database {req.dbname!r} does not exist on the server", hint="check --dbname")
    if state.admin_user == req.app_username:
        raise RefusedError(
            f"role {req.app_username!r} is the user this command connects as (the master user): making it the IdP's "
            "role would rewrite its password and take its CREATEROLE and CREATEDB away",
            hint="set database.appUsername to another role (the program's config refuses it too)",
        )
    if state.superuser:
        raise RefusedError(
            f"role {req.app_username!r} is a superuser: an IdP must not run as one, and RDS's master user cannot "
            "change that; use another role name (database.appUsername) or remove the attribute as a superuser"
        )
    changes = _plan(req, state)
    if req.dry_run:
        report.skip_step("apply", "dry run: nothing changed")
    else:
        with report.step("apply", changes=len(changes)):
            _apply(req, changes)
    with report.step("verify"):
        final = _inspect(req) if not req.dry_run else state
        _verify(req, final, report)
    return {
        "role": req.app_username,
        "database": req.dbname,
        "changes": [c[0] for c in changes],
        "dry_run": req.dry_run,
    }


# ---------------------------------------------------------------------------- phases
def _inspect(req: DbBootstrapRequest) -> RoleState:
    login_ok, login_error = _try_app_login(req)
    with _admin(req) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (req.dbname,)
        ).fetchone()
        [(admin_user,)] = conn.execute("SELECT current_user").fetchall()
        row = conn.execute(
            "SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s",
            (req.app_username,),
        ).fetchone()
        if row is None:
            return RoleState(False, False, login_error, database_owner=owner[0] if owner else None)
        superuser, can_login, *flags = row
        extra = [clause for (attr, clause), on in zip(EXTRA_ATTRIBUTES.items(), flags, strict=True) if on]
        memberships = [
            r[0]
            for r in conn.execute(
                "SELECT pg_get_userbyid(m.roleid) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                "WHERE r.rolname = %s ORDER BY 1",
                (req.app_username,),
            )
        ]
    return RoleState(
        True, login_ok, login_error, superuser, extra, memberships, can_login, owner[0] if owner else None, admin_user
    )


def _plan(req: DbBootstrapRequest, state: RoleState) -> list[tuple[str, sql.Composable]]:
    """(description, statement) of every change needed, in order; empty when all is right."""
    role = sql.Identifier(req.app_username)
    changes: list[tuple[str, sql.Composable]] = []
    if not state.exists:
        changes.append(
            (
                "create role",
                sql.SQL("CREATE ROLE {} WITH LOGIN NOSUPERUSER PASSWORD {}").format(role, _verifier(req)),
            )
        )
    elif not state.login_ok:
        changes.append(("set password", sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, _verifier(req))))
    if state.extra_attributes:
        clauses = sql.SQL(" ").join(sql.SQL(c) for c in state.extra_attributes)
        changes.append(
            (
                f"drop attributes {' '.join(state.extra_attributes)}",
                sql.SQL("ALTER ROLE {} WITH ").format(role) + clauses,
            )
        )
    for granted in state.memberships:
        changes.append(
            (f"revoke membership in {granted}", sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), role))
        )
    if state.database_owner != req.app_username:
        changes.append(("own the database", _owner_statement(req)))
    return changes


def _apply(req: DbBootstrapRequest, changes: list[tuple[str, sql.Composable]]) -> None:
    """All changes in one transaction: a failure leaves the role and the database as they were."""
    if not changes:
        return
    with _admin(req, autocommit=False) as conn:
        with conn.transaction():
            for _what, statement in changes:
                conn.execute(statement)


def _verify(req: DbBootstrapRequest, state: RoleState, report: Report) -> None:
    login_ok, error = _try_app_login(req) if not req.dry_run else (state.login_ok, state.login_error)
    report.check(
        "db.app-login", login_ok, "the IdP's role logs in with dbAppPassword" if login_ok else f"login failed: {error}"
    )
    owns = state.database_owner == req.app_username
    report.check(
        "db.app-owns-database",
        owns,
        f"{req.app_username} owns {req.dbname}" if owns else f"{req.dbname} is owned by {state.database_owner}",
    )
    extra = state.extra_attributes + [f"member of {m}" for m in state.memberships]
    report.check(
        "db.app-least-privilege",
        not extra and not state.superuser,
        "LOGIN only, no role memberships" if not extra else f"extra: {', '.join(extra)}",
    )


# ---------------------------------------------------------------------------- helpers
def _owner_statement(req: DbBootstrapRequest) -> sql.Composable:
    """ALTER DATABASE ... OWNER needs the admin to be able to SET ROLE to the new owner: RDS's master
    user is not a superuser, so it joins the role for this transaction's change and leaves it again."""
    return sql.SQL(
        "DO $$ BEGIN "
        "IF NOT pg_has_role(current_user, {role_text}, 'MEMBER') THEN "
        "EXECUTE format('GRANT %I TO %I', {role_text}, current_user); "
        "EXECUTE format('ALTER DATABASE %I OWNER TO %I', {db_text}, {role_text}); "
        "EXECUTE format('REVOKE %I FROM %I', {role_text}, current_user); "
        "ELSE EXECUTE format('ALTER DATABASE %I OWNER TO %I', {db_text}, {role_text}); END IF; END $$"
    ).format(role_text=sql.Literal(req.app_username), db_text=sql.Literal(req.dbname))


def _verifier(req: DbBootstrapRequest) -> sql.Composable:
    """The password as a SCRAM-SHA-256 verifier (what psql's \\password sends), never in clear."""
    with _admin(req) as conn:
        verifier = conn.pgconn.encrypt_password(req.app_password.encode(), req.app_username.encode(), b"scram-sha-256")
    return sql.Literal(verifier.decode())


def _admin(req: DbBootstrapRequest, *, autocommit: bool = True) -> psycopg.Connection:
    try:
        return psycopg.connect(req.admin_conninfo, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise ExternalError(
            f"cannot connect as the admin user: {_first_line(exc)}",
            hint="check the host, the master secret and that this machine reaches the database (TLS required)",
        ) from None


def _try_app_login(req: DbBootstrapRequest) -> tuple[bool, str | None]:
    params = conninfo_to_dict(req.admin_conninfo)
    params.update(user=req.app_username, password=req.app_password, dbname=req.dbname)
    try:
        with psycopg.connect(make_conninfo(**params)) as conn:
            conn.execute("SELECT 1")
        return True, None
    except psycopg.OperationalError as exc:
        return False, _first_line(exc)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
