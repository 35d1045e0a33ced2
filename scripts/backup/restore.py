"""``restore dump``: the guide's tested restore procedure, as resumable, timed steps, after a
preflight that changes nothing.

Preflight: the manifest (a verified dump only), the object's size and SHA-256 read from the archive,
the dump's IdP version not newer than the one that will run on it (``--app-version``), the target
server's PostgreSQL major not older than the dump's, the target database and who is connected.
Then: scale the IdP to 0 and wait until no pod is left (with ``--kube-adapter``), terminate that one
database's backends, drop and recreate it owned by its owner (commented as being restored, so no
scheduled dump takes it half-done), ``pg_restore --no-owner --no-privileges`` streamed from the
archive (``--jobs N`` > 1 stages the dump in a temporary file, which pg_restore needs for parallel
restore), scale the IdP back up and wait until it is ready, then ``verify`` against a baseline.

Every step is recorded in a :class:`~scripts.runstate.Journal`: an interrupted run resumes at the step
it was in, with the dump and the owner the first run chose. Nothing happens without ``--yes``: it
drops a database. No other database is touched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contract.backups import DUMP_PREFIX
from contract.versions import version_tuple
from scripts.backup.manifest import RESTORING_MARK, Manifest, manifest_key
from scripts.errors import ExternalError, InputError, RefusedError
from scripts.k8s.site import scale_and_wait
from scripts.pg.bindir import find_pg_bindir
from scripts.polling import Clock
from scripts.report import Report
from scripts.runstate import Journal
from scripts.timeutil import iso, utcnow
from scripts.verify import DbParams, Target, VerifyParams, verify
from scripts.verify.model import Baseline, ClientCredentials


@dataclass(frozen=True)
class Site:
    """The IdP Deployment(s) to stop while the database is replaced, and how many to bring back."""

    kube: Any
    namespace: str
    deployments: tuple[str, ...]
    replicas: int


@dataclass(frozen=True)
class VerifySpec:
    """``--baseline``: verify the IdP after it is back, where this machine reaches it."""

    baseline: Baseline
    source: str
    base_url: str
    mgmt_url: str | None = None
    client: ClientCredentials | None = None


@dataclass
class RestoreRequest:
    bucket: str
    prefix: str
    dump: str  # latest | a key
    before: datetime | None
    admin_conninfo: str
    dbname: str
    owner: str | None = None
    app_version: str | None = None
    jobs: int = 1
    yes: bool = False
    dry_run: bool = False
    site: Site | None = None
    verify: VerifySpec | None = None
    timeout_s: float = 600.0
    clock: Clock = field(default_factory=Clock)


STEPS = ("scale-down", "terminate", "recreate", "restore", "scale-up", "verify")


def restore_dump(req: RestoreRequest, s3: Any, report: Report, journal: Journal | None = None) -> dict[str, Any]:
    """Preflight, then the procedure's steps; ``journal`` (default: kept in memory) makes it resumable."""
    journal = journal or Journal.in_memory("restore dump", req.dbname)
    with report.step("preflight") as step:
        manifest, skipped = _resolve(req, s3, journal)
        report.notes += [f"skipped a manifest that cannot be trusted: {why}" for why in skipped]
        _check_object(s3, req.bucket, manifest)
        owner, connections, target_major = _target(req, journal.pinned.get("owner"))
        _compatible(req, manifest, target_major)
        step.detail.update(dump=manifest.key, owner=owner, open_connections=connections, resumed=journal.resumed)
    plan = {
        "dump": f"s3://{req.bucket}/{manifest.key}",
        "database": req.dbname,
        "owner": owner,
        "idp_version": manifest.idp_version,
        "dumped_at": manifest.started_at,
    }
    if req.dry_run:
        for name in STEPS:
            report.skip_step(name, "dry run: nothing changed")
        return {**plan, "dry_run": True}
    if not req.yes:
        raise RefusedError(
            f"restore dump drops and recreates database {req.dbname!r} ({connections} open connection(s))",
            hint="re-run with --yes once the IdP may be stopped (--dry-run shows the plan)",
        )
    if connections and req.site is None:
        report.notes.append(
            f"{connections} connection(s) to {req.dbname!r} were open: stop the IdP before the restore and start it "
            "after (a Keycloak left running across it serves errors from its stale caches)"
        )
    journal.pinned.update(dump=manifest.key, owner=owner, dumped_at=manifest.started_at, database=req.dbname)
    _scale(req, report, journal, "scale-down", 0)
    journal.run(report, "terminate", lambda: _terminate(req))
    if not journal.done("restore"):
        journal.invalidate("recreate")  # a half-done pg_restore needs a fresh, empty database
    journal.run(report, "recreate", lambda: _recreate(req, owner, manifest))
    journal.run(report, "restore", lambda: _pg_restore(req, s3, manifest, owner), jobs=req.jobs)
    _scale(req, report, journal, "scale-up", req.site.replicas if req.site else 0)
    if req.verify is None:
        report.skip_step("verify", "no --baseline: run 'idp-dr verify --baseline ...' against the IdP")
    else:
        journal.run(report, "verify", lambda: _verify(req, report))
    return {**plan, "dry_run": False}


# ---------------------------------------------------------------------------- preflight
def _resolve(req: RestoreRequest, s3: Any, journal: Journal) -> tuple[Manifest, list[str]]:
    """The dump to restore and the manifests ``latest`` skipped (why each). A manifest counts only for the dump
    beside it (its ``key`` is its own object's), at a time no later than S3 wrote it (a crafted ``ended_at`` in
    9999 does not win ``latest``); one that does not parse or lies is skipped and reported, never blocking."""
    pinned = journal.pinned.get("dump")
    if pinned and req.dump not in ("latest", pinned):
        raise RefusedError(
            f"an unfinished restore of {req.dbname!r} from {pinned} is recorded in {journal.location}; "
            f"this run asks for {req.dump}",
            hint=f"re-run with --dump {pinned} (or latest) to finish it, or move {journal.location} aside to restart",
        )
    if pinned or req.dump != "latest":
        return _manifest(s3, req.bucket, manifest_key(pinned or req.dump), require_verified=True), []
    found, skipped = [], []
    paginator = s3.get_paginator("list_objects_v2")
    root = f"{req.prefix}/{DUMP_PREFIX}/" if req.prefix else f"{DUMP_PREFIX}/"
    for page in paginator.paginate(Bucket=req.bucket, Prefix=root):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith(".manifest.json"):
                continue
            try:
                manifest = _manifest(s3, req.bucket, obj["Key"], require_verified=False)
            except InputError as exc:
                skipped.append(exc.message)
                continue
            ended = min(manifest.ended, obj["LastModified"])  # written when S3 says, whatever it claims
            if manifest.status == "verified" and (req.before is None or ended <= req.before):
                found.append((ended, manifest))
    if not found:
        within = f" before {req.before.isoformat()}" if req.before else ""
        allowed = f"a verified dump in s3://{req.bucket}/{root}{within} (there is none"
        allowed += f"; {len(skipped)} manifest(s) skipped: {skipped[0]})" if skipped else ")"
        raise InputError("--dump", "latest", allowed)
    return max(found, key=lambda pair: pair[0])[1], skipped


def _manifest(s3: Any, bucket: str, key: str, *, require_verified: bool) -> Manifest:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise InputError("--dump", key.replace(".manifest.json", ".dump"), "a dump with its manifest") from None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise InputError("--dump", key, "a dump manifest (JSON, nested no deeper than JSON allows)") from None
    manifest = Manifest.from_dict(doc, source=key)
    own = key.removesuffix(".manifest.json") + ".dump"
    if manifest.key != own:
        raise InputError("--dump", key, f"a manifest of the dump beside it ({own}); this one names {manifest.key}")
    if require_verified and manifest.status != "verified":
        raise RefusedError(f"dump {manifest.key} failed its verification at backup time: {manifest.problem}")
    return manifest


def _check_object(s3: Any, bucket: str, manifest: Manifest) -> None:
    body = s3.get_object(Bucket=bucket, Key=manifest.key)["Body"]
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    if size != manifest.size_bytes or digest.hexdigest() != manifest.sha256:
        raise RefusedError(
            f"dump {manifest.key} is not what was backed up: {size} bytes (manifest: {manifest.size_bytes}), "
            "SHA-256 mismatch; nothing was changed",
            hint="pick another dump (--dump KEY or --before TIME)",
        )


def _target(req: RestoreRequest, pinned_owner: str | None) -> tuple[str, int, int]:
    with _admin(req) as conn:
        major = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()[0]
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (req.dbname,)
        ).fetchone()
        connections = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (req.dbname,)
        ).fetchone()[0]
    # A resumed run whose database is already dropped knows its owner from the first run.
    owner = req.owner or pinned_owner or (row[0] if row else None)
    if owner is None:
        raise InputError("--owner", None, f"the role that owns {req.dbname!r} (it does not exist yet to ask)")
    _may_replace(req, owner)
    return owner, connections, major


def _may_replace(req: RestoreRequest, owner: str) -> None:
    """Everything the procedure needs of the admin connection, checked before anything is dropped: the
    owner role exists, and the admin may create databases and act as that role (drop its database,
    ``pg_restore --role``). RDS's master user is no superuser: it must be a member of the app role."""
    with _admin(req) as conn:
        found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
        if found is None:
            raise InputError(
                "--owner",
                owner,
                "a role that exists on the target server (create it first: 'idp-dr bootstrap db' does)",
            )
        admin, createdb, member = conn.execute(
            "SELECT current_user, rolsuper OR rolcreatedb, pg_has_role(current_user, %s, 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user",
            (owner,),
        ).fetchone()
    if not createdb:
        raise RefusedError(
            f"the admin connection's role {admin} may not create databases; nothing was changed",
            hint="connect as the instance's master user (RDS) or a role with CREATEDB",
        )
    if not member:
        raise RefusedError(
            f"the admin connection's role {admin} is not a member of {owner}: it could drop {req.dbname!r} but not "
            "restore it as its owner; nothing was changed",
            hint=f"GRANT {owner} TO {admin}; then re-run",
        )


def _compatible(req: RestoreRequest, manifest: Manifest, target_major: int) -> None:
    if target_major < manifest.pg_server_major:
        raise RefusedError(
            f"the dump comes from PostgreSQL {manifest.pg_server_version}; the target server is PostgreSQL "
            f"{target_major}: restore onto {manifest.pg_server_major} or newer"
        )
    dumped, running = version_tuple(manifest.idp_version), version_tuple(req.app_version)
    if dumped and running and dumped > running:
        raise RefusedError(
            f"the dump was written by {manifest.idp} {manifest.idp_version}; the version that will run on it is "
            f"{req.app_version}: an older {manifest.idp} cannot start on a newer schema",
            hint=f"run {manifest.idp} {manifest.idp_version} or newer, or pick an older dump",
        )


# ---------------------------------------------------------------------------- the procedure
def _scale(req: RestoreRequest, report: Report, journal: Journal, name: str, replicas: int) -> None:
    if req.site is None:
        report.skip_step(name, "no --kube-adapter: stop and start the IdP yourself")
        return
    journal.run(report, name, lambda: _scale_site(req, req.site, replicas), replicas=replicas)  # type: ignore[arg-type]


def _scale_site(req: RestoreRequest, site: Site, replicas: int) -> dict[str, Any]:
    return scale_and_wait(site.kube, site.namespace, site.deployments, replicas, timeout=req.timeout_s, clock=req.clock)


def _terminate(req: RestoreRequest) -> dict[str, int]:
    with _admin(req) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (req.dbname,),
        ).fetchall()
    return {"terminated": len(rows)}


def _recreate(req: RestoreRequest, owner: str, manifest: Manifest) -> None:
    db = sql.Identifier(req.dbname)
    mark = f"{RESTORING_MARK} since {iso(utcnow())} from {manifest.key}"
    with _admin(req) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, sql.Identifier(owner)))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(mark)))


def _pg_restore(req: RestoreRequest, s3: Any, manifest: Manifest, owner: str) -> None:
    params = conninfo_to_dict(req.admin_conninfo)
    env_password = str(params.pop("password", "") or "")
    params["dbname"] = req.dbname
    argv = [
        str(find_pg_bindir() / "pg_restore"),
        "--no-owner",
        "--no-privileges",
        f"--role={owner}",
        "--exit-on-error",
        "--dbname",
        make_conninfo(**params),
    ]
    env = {"PGPASSWORD": env_password} if env_password else {}
    body = s3.get_object(Bucket=req.bucket, Key=manifest.key)["Body"]
    if req.jobs > 1:
        with tempfile.TemporaryDirectory(prefix="idp-dr-dump-") as tmp:
            path = Path(tmp) / "dump"
            with path.open("wb") as out:
                shutil.copyfileobj(body, out, 1 << 20)
            _run([*argv, f"--jobs={req.jobs}", str(path)], env, None)
    else:
        _run(argv, env, body)
    with _admin(req) as conn:  # restored whole: a scheduled dump may take it again
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(req.dbname)))


def _verify(req: RestoreRequest, report: Report) -> None:
    """``verify`` against the baseline, on the restored database; its checks join this report."""
    spec = req.verify
    assert spec is not None
    params = conninfo_to_dict(req.admin_conninfo)
    params["dbname"] = req.dbname
    scope = spec.baseline.scope
    target = Target(
        spec.baseline.idp,
        spec.base_url,
        realm=scope if spec.baseline.idp == "keycloak" else None,
        app=scope if spec.baseline.idp == "authentik" else None,
        mgmt_url=spec.mgmt_url,
        db=DbParams(make_conninfo(**params)),
    )
    sub = Report("verify")
    verify(VerifyParams(target, client=spec.client), sub, spec.baseline)
    for check in sub.checks:
        report.check(f"verify.{check.name}", check.ok, check.message, advisory=check.advisory, **check.evidence)
    failed = [c.name for c in sub.checks if c.blocking]
    if failed:
        raise ExternalError(f"the restored IdP fails verify against {spec.source}: {', '.join(failed)}")


def _run(argv: list[str], env: dict[str, str], stdin_body: Any) -> None:
    import os

    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin_body is not None else None,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    if stdin_body is not None:
        try:
            for chunk in iter(lambda: stdin_body.read(1 << 20), b""):
                proc.stdin.write(chunk)  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
    errors = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.wait() != 0:
        raise ExternalError(f"pg_restore failed: {errors.splitlines()[0] if errors else 'no output'}")


def _admin(req: RestoreRequest) -> psycopg.Connection:
    try:
        return psycopg.connect(req.admin_conninfo, autocommit=True)
    except psycopg.OperationalError as exc:
        raise ExternalError(f"cannot connect to the target server: {str(exc).strip().splitlines()[-1]}") from None
