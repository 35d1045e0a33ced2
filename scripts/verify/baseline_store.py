"""Baselines kept in the DR bucket, where an incident can reach them: ``baseline --publish`` writes
``s3://<drBucket>/idp-dr/baselines/<idp>-<realm|app>/<UTC time>.json``; ``--baseline latest`` (verify,
failover, failback) reads the newest, ``--baseline s3://...`` a given one, anything else a file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract.backups import BASELINE_PREFIX
from contract.outputs import StackOutputs
from scripts.errors import ExternalError, InputError
from scripts.verify.model import Baseline

PREFIX = BASELINE_PREFIX


def publish(baseline: Baseline, outputs: StackOutputs, aws: Any, *, now: datetime | None = None) -> str:
    """Write the baseline to the DR bucket; returns its s3:// URL."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    key = f"{PREFIX}{_scope(baseline)}/{stamp}.json"
    body = json.dumps(baseline.to_dict(), indent=2).encode()
    _call(aws, outputs, "PutObject", Key=key, Body=body, ContentType="application/json")
    return f"s3://{outputs.archive.drBucket}/{key}"


def load_baseline(spec: str, *, outputs: StackOutputs | None, aws: Any = None) -> tuple[Baseline, str]:
    """The baseline ``spec`` names, and where it came from (for the report)."""
    if spec != "latest" and not spec.startswith("s3://"):
        return Baseline.load(Path(spec)), spec
    if outputs is None:
        raise InputError("--baseline", spec, "a file; 'latest' and s3:// URLs need --stack-outputs (the DR bucket)")
    if aws is None:
        from scripts.aws.client import Aws

        aws = Aws()
    key = _latest_key(aws, outputs) if spec == "latest" else _key_of(spec, outputs)
    body = _call(aws, outputs, "GetObject", Key=key)["Body"].read()
    url = f"s3://{outputs.archive.drBucket}/{key}"
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError("--baseline", url, "a baseline file written by 'idp-dr baseline' (this is not JSON)") from None
    return Baseline.from_dict(doc, source=url), url


def _latest_key(aws: Any, outputs: StackOutputs) -> str:
    keys: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = _call(aws, outputs, "ListObjectsV2", Prefix=PREFIX, **token)
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    if not keys:
        raise InputError(
            "--baseline",
            "latest",
            f"a baseline in s3://{outputs.archive.drBucket}/{PREFIX} (there is none)",
            hint="record one with: idp-dr baseline ... --publish --stack-outputs ...",
        )
    # Keys end in a sortable UTC time: the newest is the largest by that name.
    return max(keys, key=lambda k: k.rsplit("/", 1)[-1])


def _key_of(url: str, outputs: StackOutputs) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if bucket != outputs.archive.drBucket or not key:
        raise InputError("--baseline", url, f"an s3:// URL in the stack's DR bucket ({outputs.archive.drBucket})")
    return key


def _scope(baseline: Baseline) -> str:
    return f"{baseline.idp}-{baseline.scope}"


def _call(aws: Any, outputs: StackOutputs, operation: str, **params: Any) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    from scripts.aws.client import error_code

    client = aws.client("s3", outputs.drRegion)
    try:
        return aws.call(client, operation, Bucket=outputs.archive.drBucket, **params)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            raise InputError(
                "--baseline", f"s3://{outputs.archive.drBucket}/{params.get('Key')}", "an existing baseline"
            ) from None
        raise ExternalError(f"s3 {operation} on {outputs.archive.drBucket} failed: {exc}") from None
