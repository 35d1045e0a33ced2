"""The DR side's hourly alarms on what the runbook's checks publish (namespace ``IdpDr/DrPaths``), written once.

Every one evaluates two hourly periods: one late or missed run of the checks CronJob is not yet an incident;
two are. ``missing`` says what silence means: ``breaching`` where silence is itself the failure (the check
stopped running), ``notBreaching`` where there is simply nothing to say yet (no drill has run).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import opts, tags
from contract.backups import DR_PATH_METRIC_NAMESPACE


@dataclass(frozen=True)
class DrPathAlarm:
    suffix: str  # of the Pulumi resource name
    metric: str
    threshold: float
    why: str  # the alarm's description, after "idp-dr <stack>: "
    comparison: str = "GreaterThanThreshold"
    statistic: str = "Maximum"
    missing: str = "breaching"


def dr_path_alarm(
    owner: pulumi.ComponentResource, name: str, alarm: DrPathAlarm, *, stack: str, topic_arn: pulumi.Input[str],
    provider: pulumi.ProviderResource, tag_base: dict[str, str],
) -> aws.cloudwatch.MetricAlarm:  # fmt: skip
    return aws.cloudwatch.MetricAlarm(
        f"{name}-{alarm.suffix}",
        alarm_description=f"idp-dr {stack}: {alarm.why}",
        namespace=DR_PATH_METRIC_NAMESPACE,
        metric_name=alarm.metric,
        dimensions={"Stack": stack},
        statistic=alarm.statistic,
        period=3600,
        evaluation_periods=2,
        datapoints_to_alarm=2,
        threshold=alarm.threshold,
        comparison_operator=alarm.comparison,
        treat_missing_data=alarm.missing,
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
        tags=tags(tag_base),
        opts=opts(owner, provider),
    )
