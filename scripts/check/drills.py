"""Whether the DR path has been proven lately: the drills' records in the DR bucket, read by ``check dr-paths``.

``drill --aws`` records every drill under ``idp-dr/drills/`` in the DR bucket. This reads the newest and
publishes, for the program's alarms: the days since the newest successful drill (since the DR bucket was
created, when no drill has succeeded yet), whether the newest drill succeeded, and the newest successful
drill's RTO. It only reads, and puts those metrics.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from contract.drills import DRILL_AGE_METRIC, DRILL_RECORD_PREFIX, LAST_DRILL_RTO_METRIC, LAST_DRILL_SUCCEEDED_METRIC
from contract.outputs import StackOutputs
from scripts.aws.client import Aws
from scripts.check.replicated_backups import publish
from scripts.report import Report
from scripts.timeutil import iso, parse_iso


def newest_records(aws: Aws, outputs: StackOutputs, *, keep: int = 50) -> list[dict[str, Any]]:
    """The newest ``keep`` drill records, newest first (keys end in a sortable UTC time)."""
    s3, bucket = aws.client("s3", outputs.drRegion), outputs.archive.drBucket
    keys: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = aws.call(s3, "ListObjectsV2", Bucket=bucket, Prefix=DRILL_RECORD_PREFIX, **token)
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    records = []
    for key in sorted(keys, reverse=True)[:keep]:
        try:
            doc = json.loads(aws.call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read())
        except ValueError:
            continue  # not a record this tool wrote: skipped, not trusted
        if isinstance(doc, dict) and parse_iso(str(doc.get("started_at"))):
            records.append({**doc, "key": key})
    return records


def bucket_created(aws: Aws, outputs: StackOutputs) -> datetime | None:
    buckets = aws.call(aws.client("s3", outputs.drRegion), "ListBuckets").get("Buckets", [])
    return next((b["CreationDate"] for b in buckets if b["Name"] == outputs.archive.drBucket), None)


def check_drills(
    outputs: StackOutputs, report: Report, *, aws: Aws, now: datetime, max_age_days: float,
    metric_namespace: str | None, metric_stack: str,
) -> dict[str, Any]:  # fmt: skip
    records = newest_records(aws, outputs)
    newest = records[0] if records else None
    success = next((r for r in records if r.get("succeeded") is True), None)
    since = parse_iso(str(success["started_at"])) if success else bucket_created(aws, outputs)
    age_days = max((now - since).total_seconds() / 86400, 0.0) if since else None
    what = (
        f"the newest successful drill started {iso(since)}" if success else f"no drill has succeeded since {iso(since)}"
    )
    report.check(
        "drills.recent",
        age_days is not None and age_days <= max_age_days,
        f"{what}, {age_days:.1f} days ago (at most {max_age_days:g})" if age_days is not None else "no drill record",
        records=len(records),
    )
    if newest is not None:
        report.check(
            "drills.last_succeeded",
            newest.get("succeeded") is True,
            f"the newest drill ({newest.get('drill')}, {newest.get('started_at')}) "
            + ("succeeded" if newest.get("succeeded") else f"failed: {newest.get('error') or 'a check failed'}"),
        )
    if metric_namespace:
        region = outputs.drRegion
        if age_days is not None:
            publish(aws, region, metric_namespace, metric_stack, DRILL_AGE_METRIC, round(age_days, 2), unit="None")
        if newest is not None:
            value = 1.0 if newest.get("succeeded") is True else 0.0
            publish(aws, region, metric_namespace, metric_stack, LAST_DRILL_SUCCEEDED_METRIC, value, unit="Count")
        if success is not None and success.get("rto_s") is not None:
            rto = float(success["rto_s"])
            publish(aws, region, metric_namespace, metric_stack, LAST_DRILL_RTO_METRIC, rto, unit="Seconds")
    return {"drills": {"records": len(records), "newest": newest and newest.get("key"), "age_days": age_days}}
