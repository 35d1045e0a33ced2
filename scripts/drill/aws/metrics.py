"""The drill's CloudWatch metrics (names in :mod:`contract.drills`), published in the DR region after every drill.

``DrillSucceeded`` is 1 or 0 (a failed drill publishes 0, so the alarm on "the last drill failed" sees it);
RTO and RPO only when they were measured; each phase's seconds with a ``Phase`` dimension.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.drills import DRILL_PHASE_METRIC, DRILL_RPO_METRIC, DRILL_RTO_METRIC, DRILL_SUCCEEDED_METRIC
from scripts.aws.client import Aws


def datums(
    stack: str, *, succeeded: bool, rto_s: float | None, rpo_s: float | None, phases: dict[str, float], at: datetime
) -> list[dict[str, Any]]:
    dims = [{"Name": "Stack", "Value": stack}]

    def datum(name: str, value: float, unit: str, extra: list[dict[str, str]] | None = None) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dims + (extra or []), "Value": value, "Unit": unit, "Timestamp": at}

    out = [datum(DRILL_SUCCEEDED_METRIC, 1.0 if succeeded else 0.0, "Count")]
    if rto_s is not None:
        out.append(datum(DRILL_RTO_METRIC, round(rto_s, 1), "Seconds"))
    if rpo_s is not None:
        out.append(datum(DRILL_RPO_METRIC, round(rpo_s, 1), "Seconds"))
    out += [
        datum(DRILL_PHASE_METRIC, round(seconds, 1), "Seconds", [{"Name": "Phase", "Value": phase}])
        for phase, seconds in phases.items()
    ]
    return out


def publish(aws: Aws, region: str, namespace: str, data: list[dict[str, Any]]) -> int:
    """PutMetricData in batches of 20 (the API's limit per call in older SDKs); returns how many were sent."""
    cloudwatch = aws.client("cloudwatch", region)
    for start in range(0, len(data), 20):
        aws.call(cloudwatch, "PutMetricData", Namespace=namespace, MetricData=data[start : start + 20])
    return len(data)
