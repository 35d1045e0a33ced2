"""``backup dump``: a logical dump of the IdP's database into the archive, verified where it landed.

Phases:

1. **inspect** the source: server version, whether it is a replica (the guide: dump a replica, not
   the primary), the IdP version that last migrated the database;
2. **upload**: ``pg_dump -Fc`` streamed to the archive (multipart, SSE-KMS by the bucket's default
   key), hashed on the way, never staged on local disk;
3. **verify the uploaded object**, not the local stream: read it back, compare size and SHA-256,
   and run ``pg_restore --list`` over it;
4. **manifest** beside it: ``verified``, or ``failed`` with the reason. ``latest`` resolves only to
   verified dumps, so a half-written or damaged object is never taken for a good one.

The database password reaches pg_dump through its environment (PGPASSWORD), never argv, the report or
the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any, BinaryIO

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from contract.backups import METRIC_NAME
from scripts import __version__
from scripts.backup.manifest import RESTORING_MARK, Manifest, dump_key, manifest_key, tier_for
from scripts.errors import ExternalError, RefusedError
from scripts.pg.bindir import find_pg_bindir
from scripts.report import Report
from scripts.timeutil import iso, utcnow
from scripts.verify.core import adapter_for


@dataclass(frozen=True)
class DumpRequest:
    idp: str
    conninfo: str
    bucket: str
    prefix: str
    tier: str = "auto"
    kms_key_arn: str | None = None
    #: Publish ``VerifiedDumps`` = 1 (dimension ``Stack``) to this CloudWatch namespace after a verified
    #: dump: the alarm fires when none arrived for 26 hours.
    metric_namespace: str | None = None
    metric_stack: str | None = None
    metric_region: str | None = None


@dataclass
class Source:
    host: str
    database: str
    server_version: str
    server_major: int
    is_replica: bool
    idp_version: str | None


class HashingReader:
    """A file-like view of a pipe that hashes and counts what passes through (for boto3's upload)."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.sha256, self.size = stream, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.sha256.update(chunk)
        self.size += len(chunk)
        return chunk


def backup_dump(req: DumpRequest, s3: Any, report: Report) -> dict[str, Any]:
    started = utcnow()
    with report.step("inspect") as step:
        source = inspect_source(req)
        step.detail.update(host=source.host, database=source.database, replica=source.is_replica)
    if not source.is_replica:
        report.notes.append(
            f"dumped the primary {source.host}: the stack has no read replica reachable from here "
            "(the guide prefers a replica, which takes the dump's load off production)"
        )
    key = _prefixed(req.prefix, dump_key(tier_for(started, req.tier), source.database, started))
    with report.step("upload", key=key) as step:
        sha, size, problem = _upload(req, source, key, s3)
        step.detail.update(bytes=size)
    with report.step("verify", key=key) as step:
        found, kms_key = _verify_object(s3, req.bucket, key, sha, size)
        problem = problem or found
        step.detail.update(kms_key=kms_key)
    manifest = Manifest(
        idp=req.idp, idp_version=source.idp_version, database=source.database, source_host=source.host,
        source_is_replica=source.is_replica, pg_server_version=source.server_version,
        pg_server_major=source.server_major, pg_dump_version=_pg_dump_version(), key=key,
        kms_key_arn=kms_key or req.kms_key_arn, size_bytes=size, sha256=sha, started_at=iso(started),
        ended_at=iso(utcnow()),
        tool_version=__version__, status="failed" if problem else "verified", problem=problem,
    )  # fmt: skip
    with report.step("manifest"):
        s3.put_object(
            Bucket=req.bucket,
            Key=manifest_key(key),
            Body=json.dumps(manifest.to_dict(), indent=2).encode(),
            ContentType="application/json",
        )
    report.check("dump.verified", problem is None, problem or f"read back: {size} bytes, SHA-256 {sha[:12]}…, listed")
    if problem is None and req.metric_namespace:
        with report.step("metric", namespace=req.metric_namespace):
            _publish_metric(req)
    return {"dump": f"s3://{req.bucket}/{key}", "manifest": manifest.to_dict()}


# ---------------------------------------------------------------------------- phases
def inspect_source(req: DumpRequest) -> Source:
    params = conninfo_to_dict(req.conninfo)
    database = str(params.get("dbname"))
    try:
        with psycopg.connect(req.conninfo, autocommit=True) as conn:
            version, major, replica, comment = conn.execute(
                "SELECT current_setting('server_version'), current_setting('server_version_num')::int / 10000, "
                "pg_is_in_recovery(), "
                "(SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            _refuse_restoring(database, comment)
            idp_version = adapter_for(req.idp).db_app_version(conn)
    except psycopg.errors.UndefinedTable as exc:
        missing = str(exc).strip().splitlines()[0]
        raise RefusedError(
            f"database {database!r} holds no {req.idp} schema ({missing}); nothing was written",
            hint="point --db-dsn at the IdP's own database (and --idp at the IdP that uses it)",
        ) from None
    except psycopg.OperationalError as exc:
        raise ExternalError(f"cannot connect to the dump source: {str(exc).strip().splitlines()[-1]}") from None
    return Source(str(params.get("host", "local")), database, version, major, replica, idp_version)


def _refuse_restoring(database: str, comment: str | None) -> None:
    if comment and comment.startswith(RESTORING_MARK):
        raise RefusedError(
            f"database {database!r} is being restored ({comment}): a dump now would hold a "
            "half-restored database; nothing was written",
            hint="dump again once 'restore dump' has finished (it clears the mark)",
        )


def _upload(req: DumpRequest, source: Source, key: str, s3: Any) -> tuple[str, int, str | None]:
    params = conninfo_to_dict(req.conninfo)
    env = {**os.environ, "PGPASSWORD": str(params.pop("password", "") or os.environ.get("PGPASSWORD", ""))}
    argv = [str(find_pg_bindir() / "pg_dump"), "--format=custom", "--no-password", "--dbname", make_conninfo(**params)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    reader = HashingReader(proc.stdout)  # type: ignore[arg-type]
    try:
        s3.upload_fileobj(reader, req.bucket, key)
    finally:
        proc.stdout.close()  # type: ignore[union-attr]
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait()
    problem = None if code == 0 else f"pg_dump exited {code}: {_error_line(stderr)}"
    return reader.sha256.hexdigest(), reader.size, problem


def _error_line(stderr: str) -> str:
    """pg_dump's own error line (it is followed by detail lines), else its last line."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    return (errors or lines or ["no output"])[0 if errors else -1]


def _verify_object(s3: Any, bucket: str, key: str, sha: str, size: int) -> tuple[str | None, str | None]:
    """Read the uploaded object back: its size and SHA-256, and pg_restore's table of contents. Returns the
    problem (None: whole) and the KMS key S3 says encrypts it (what the manifest records; None without SSE-KMS)."""
    response = s3.get_object(Bucket=bucket, Key=key)
    body, kms_key = response["Body"], response.get("SSEKMSKeyId")
    lister = subprocess.Popen(
        [str(find_pg_bindir() / "pg_restore"), "--list"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    digest, seen, listing = hashlib.sha256(), 0, True
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
        seen += len(chunk)
        if listing:
            try:
                lister.stdin.write(chunk)  # type: ignore[union-attr]
            except BrokenPipeError:
                # pg_restore --list stops reading once it has the table of contents: keep hashing.
                listing = False
    try:
        lister.stdin.close()  # type: ignore[union-attr]
    except BrokenPipeError:
        pass
    errors = lister.stderr.read().decode(errors="replace").strip() if lister.stderr else ""
    if seen != size or digest.hexdigest() != sha:
        differs = f"the uploaded object differs from what pg_dump wrote ({seen} of {size} bytes, SHA-256 mismatch)"
        return differs, kms_key
    if lister.wait() != 0:
        last = errors.splitlines()[-1] if errors else "no output"
        return f"pg_restore --list rejects the uploaded object: {last}", kms_key
    return None, kms_key


def _publish_metric(req: DumpRequest) -> None:
    from scripts.aws.client import Aws

    aws = Aws()
    client = aws.client("cloudwatch", aws.resolve_region(req.metric_region, field="--metric-region"))
    aws.call(
        client,
        "PutMetricData",
        Namespace=req.metric_namespace,
        MetricData=[
            {"MetricName": METRIC_NAME, "Dimensions": [{"Name": "Stack", "Value": req.metric_stack or "idp"}],
             "Value": 1.0, "Unit": "Count"}
        ],
    )  # fmt: skip


def _pg_dump_version() -> str:
    out = subprocess.run([str(find_pg_bindir() / "pg_dump"), "--version"], capture_output=True, text=True, check=False)
    return pg_dump_version(out.stdout)


def pg_dump_version(text: str) -> str:
    """The version in ``pg_dump --version``'s line: ``pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`` is
    ``15.18`` (the last word was ``15.18-0+deb12u1)``, the packager's, with a parenthesis)."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*\w*)", text)
    return match.group(1) if match else text.strip()[:64]


def _prefixed(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key
