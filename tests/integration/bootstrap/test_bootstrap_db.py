"""``bootstrap db`` against a real PostgreSQL 15 set up the way RDS leaves a new instance: the
database owned by a master user that has CREATEROLE and CREATEDB but is not a superuser.

Cases: the role does not exist; it exists with another password; it was given more than it needs
(CREATEDB, a role membership); a re-run changes nothing; a superuser app role is refused untouched.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.lab.postgres import PgCluster
from scripts.pg.bindir import pg_available
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.processes import Supervisor
from tests.conftest import need

pytestmark = pytest.mark.integration

MASTER = "idp_admin"


@dataclass
class RdsLike:
    pg: PgCluster
    master_password: str
    workspace: Path

    def admin_dsn(self) -> str:
        return self.pg.tcp_dsn("postgres", MASTER, self.master_password)

    def fresh_database(self) -> str:
        """A new database owned by the master user, as RDS creates database.dbName."""
        name = f"kc_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def superuser(self, statement: sql.Composable | str) -> None:
        self.pg.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rds_like() -> Iterator[RdsLike]:
    need(pg_available(), "PostgreSQL 15 server binaries (apt-get install postgresql)")
    workspace = make_workspace(prefix="test-bootstrap-")
    try:
        with Supervisor() as supervisor:
            pg = PgCluster.create(workspace, "pg", supervisor=supervisor)
            pg.start()
            password = secrets.token_urlsafe(16)
            pg.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                    sql.Identifier(MASTER), sql.Literal(password)
                )
            )
            yield RdsLike(pg, password, workspace)
    finally:
        remove_tree(workspace)


def bootstrap(lab: RdsLike, dbname: str, role: str, password: str, *extra: str) -> tuple[int, dict, str]:
    secret = lab.workspace / f"{role}.password"
    secret.write_text(password + "\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["bootstrap", "db", "--json", "--quiet", "--admin-dsn", lab.admin_dsn(), "--dbname", dbname,
         "--app-username", role, "--app-password-file", str(secret), *extra],
        stdout=out,
        stderr=err,
    )  # fmt: skip
    return code, json.loads(out.getvalue()), err.getvalue()


def can_login(lab: RdsLike, dbname: str, role: str, password: str) -> bool:
    try:
        with psycopg.connect(lab.pg.tcp_dsn(dbname, role, password)) as conn:
            return conn.execute("SELECT current_user").fetchone()[0] == role
    except psycopg.OperationalError:
        return False


def role_facts(lab: RdsLike, dbname: str, role: str) -> dict:
    [(owner,)] = lab.pg.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,))
    [(createdb, createrole, superuser)] = lab.pg.execute(
        "SELECT rolcreatedb, rolcreaterole, rolsuper FROM pg_roles WHERE rolname = %s", (role,)
    )
    members = lab.pg.execute(
        "SELECT pg_get_userbyid(roleid) FROM pg_auth_members "
        "WHERE member = (SELECT oid FROM pg_roles WHERE rolname = %s)",
        (role,),
    )
    master_in = lab.pg.execute(
        "SELECT 1 FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = %s) "
        "AND roleid = (SELECT oid FROM pg_roles WHERE rolname = %s)",
        (MASTER, role),
    )
    return {
        "owner": owner,
        "createdb": createdb,
        "createrole": createrole,
        "superuser": superuser,
        "memberships": [m[0] for m in members],
        "master_is_member": bool(master_in),
    }


def statuses(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"]}


def test_a_missing_role_is_created_owning_its_database_and_nothing_more(rds_like):
    dbname, password = rds_like.fresh_database(), secrets.token_urlsafe(16)
    code, doc, err = bootstrap(rds_like, dbname, "keycloak_app", password)
    assert code == ExitCode.OK, err
    assert doc["result"]["changes"] == ["create role", "own the database"]
    assert statuses(doc) == {"db.app-login": "pass", "db.app-owns-database": "pass", "db.app-least-privilege": "pass"}
    assert can_login(rds_like, dbname, "keycloak_app", password)
    facts = role_facts(rds_like, dbname, "keycloak_app")
    assert facts == {"owner": "keycloak_app", "createdb": False, "createrole": False, "superuser": False,
                     "memberships": [], "master_is_member": False}  # fmt: skip
    # The IdP can do what its migrations do: create tables in its database.
    with psycopg.connect(rds_like.pg.tcp_dsn(dbname, "keycloak_app", password), autocommit=True) as conn:
        conn.execute("CREATE TABLE migration_probe (id int)")
    assert password not in json.dumps(doc)


def test_a_rerun_changes_nothing(rds_like):
    dbname, password = rds_like.fresh_database(), secrets.token_urlsafe(16)
    assert bootstrap(rds_like, dbname, "rerun_app", password)[0] == ExitCode.OK
    code, doc, _ = bootstrap(rds_like, dbname, "rerun_app", password)
    assert code == ExitCode.OK
    assert doc["result"]["changes"] == []
    assert [s["status"] for s in doc["steps"] if s["name"] == "apply"] == ["ok"]


def test_an_existing_role_with_another_password_gets_dbapppassword(rds_like):
    dbname, old, new = rds_like.fresh_database(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    rds_like.superuser(sql.SQL("CREATE ROLE other_pw_app LOGIN PASSWORD {}").format(sql.Literal(old)))
    code, doc, err = bootstrap(rds_like, dbname, "other_pw_app", new)
    assert code == ExitCode.OK, err
    assert doc["result"]["changes"] == ["set password", "own the database"]
    assert can_login(rds_like, dbname, "other_pw_app", new)
    assert not can_login(rds_like, dbname, "other_pw_app", old)
    # The server received a SCRAM verifier, never the clear password.
    [(stored,)] = rds_like.pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'other_pw_app'")
    assert stored.startswith("SCRAM-SHA-256$") and new not in stored


def test_extra_privileges_are_taken_away(rds_like):
    dbname, password = rds_like.fresh_database(), secrets.token_urlsafe(16)
    rds_like.superuser("CREATE ROLE some_group NOLOGIN")
    rds_like.superuser(sql.SQL("CREATE ROLE greedy_app LOGIN CREATEDB PASSWORD {}").format(sql.Literal(password)))
    rds_like.superuser("GRANT some_group TO greedy_app")
    code, doc, err = bootstrap(rds_like, dbname, "greedy_app", password)
    assert code == ExitCode.OK, err
    assert doc["result"]["changes"] == [
        "drop attributes NOCREATEDB",
        "revoke membership in some_group",
        "own the database",
    ]
    facts = role_facts(rds_like, dbname, "greedy_app")
    assert facts["createdb"] is False and facts["memberships"] == [] and facts["owner"] == "greedy_app"


def test_dry_run_reports_and_changes_nothing(rds_like):
    dbname, password = rds_like.fresh_database(), secrets.token_urlsafe(16)
    code, doc, _ = bootstrap(rds_like, dbname, "dry_app", password, "--dry-run")
    assert doc["result"]["changes"] == ["create role", "own the database"] and doc["result"]["dry_run"] is True
    assert code == ExitCode.CHECK_FAILED  # the checks report the state as it is: not bootstrapped yet
    assert rds_like.pg.execute("SELECT 1 FROM pg_roles WHERE rolname = 'dry_app'") == []


def test_a_superuser_app_role_is_refused_and_left_alone(rds_like):
    dbname, password = rds_like.fresh_database(), secrets.token_urlsafe(16)
    rds_like.superuser(sql.SQL("CREATE ROLE root_app LOGIN SUPERUSER PASSWORD {}").format(sql.Literal(password)))
    code, doc, _ = bootstrap(rds_like, dbname, "root_app", password)
    assert code == ExitCode.REFUSED
    assert "is a superuser" in doc["error"]["message"]
    assert role_facts(rds_like, dbname, "root_app")["owner"] == MASTER  # nothing changed


def test_a_missing_database_is_a_clear_error(rds_like):
    code, doc, _ = bootstrap(rds_like, "no_such_db", "nodb_app", "x" * 20)
    assert code == ExitCode.EXTERNAL
    assert doc["error"]["message"] == "database 'no_such_db' does not exist on the server"
    assert rds_like.pg.execute("SELECT 1 FROM pg_roles WHERE rolname = 'nodb_app'") == []


def test_credentials_come_from_secrets_manager_as_the_job_reads_them(rds_like, monkeypatch):
    """The RDS-managed master secret and the app-credentials secret (moto), the database real."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    dbname, password = rds_like.fresh_database(), secrets.token_urlsafe(16)
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="eu-west-1")
        master = sm.create_secret(
            Name="rds!db-1234", SecretString=json.dumps({"username": MASTER, "password": rds_like.master_password})
        )["ARN"]
        sm.create_secret(
            Name="idp-dr/sso/db-app-credentials", SecretString=json.dumps({"username": "sm_app", "password": password})
        )
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["bootstrap", "db", "--json", "--quiet", "--host", "127.0.0.1", "--port", str(rds_like.pg.port),
             "--dbname", dbname, "--master-secret", master, "--app-credentials-secret", "idp-dr/sso/db-app-credentials",
             "--region", "eu-west-1"],
            stdout=out,
            stderr=err,
        )  # fmt: skip
    doc = json.loads(out.getvalue())
    assert code == ExitCode.OK, err
    assert doc["result"]["changes"] == ["create role", "own the database"]
    assert can_login(rds_like, dbname, "sm_app", password)
    text = out.getvalue() + err.getvalue()
    assert password not in text and rds_like.master_password not in text


def test_a_secret_without_the_expected_keys_is_bad_input(rds_like, monkeypatch):
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="half", SecretString='{"username": "x"}'
        )
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["bootstrap", "db", "--quiet", "--admin-dsn", rds_like.admin_dsn(), "--dbname", "postgres",
             "--app-credentials-secret", "half", "--region", "eu-west-1"],
            stdout=out,
            stderr=err,
        )  # fmt: skip
    assert code == ExitCode.BAD_INPUT
    assert (
        "error: invalid --app-credentials-secret 'half': a JSON secret with the keys username, password"
        in err.getvalue()
    )


def test_the_master_user_as_the_app_role_is_refused_and_keeps_its_password_and_privileges(rds_like):
    dbname = rds_like.fresh_database()
    before = role_facts(rds_like, dbname, MASTER)
    code, doc, _ = bootstrap(rds_like, dbname, MASTER, "a-new-password-for-the-master")
    assert code == ExitCode.REFUSED
    assert doc["error"]["message"] == (
        f"role {MASTER!r} is the user this command connects as (the master user): making it the IdP's role would "
        "rewrite its password and take its CREATEROLE and CREATEDB away"
    )
    assert role_facts(rds_like, dbname, MASTER) == before and before["createrole"] and before["createdb"]
    assert can_login(rds_like, dbname, MASTER, rds_like.master_password)  # its password is untouched
