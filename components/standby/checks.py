"""The DR side's scheduled checks: ``idp-dr check replicated-backups`` hourly in the DR cluster, and its alarm.

RDS publishes no metric for cross-region automated-backup replication: a replication that stopped or
fails only shows as replicated backups whose newest restorable point falls behind. The job publishes that
age (``IdpDr/DrPaths`` ``ReplicatedBackupAgeSeconds``); the alarm, in the DR region, fires above the RPO
target, and when no value arrives for two hours (a check that stopped running is a DR path no one watches).
The job runs where a failover runs, so it keeps working while the primary region is down. It only reads.
"""

from __future__ import annotations

import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._common import account_of, opts, partition_of, tags
from components.standby.pods import PodBuilder, RunbookCronJob
from components.standby.spec import ChecksSpec
from contract.backups import DR_PATH_METRIC_NAMESPACE, REPLICATED_BACKUP_AGE_METRIC
from contract.outputs import STACK_OUTPUTS_PARAMETER, stack_outputs_location

CHECKS_SA = "idp-dr-checks"


class ChecksBuilder(PodBuilder):
    """Builds the checks CronJob and its alarm (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _checks(self, spec: ChecksSpec) -> k8s.batch.v1.CronJob:
        self._checks_service_account(spec)
        self._replicated_backups_alarm(spec)
        return self._checks_cronjob(spec)

    def _checks_service_account(self, spec: ChecksSpec) -> None:
        partition = partition_of(spec.dr_region)
        arns = account_of(spec.dr_key_arn).apply(
            lambda account: {
                "parameter": f"arn:{partition}:ssm:{spec.dr_region}:{account}:parameter"
                + STACK_OUTPUTS_PARAMETER.format(stack=spec.stack),
                "backups": f"arn:{partition}:rds:{spec.dr_region}:{account}:auto-backup:*",
            }
        )
        self._irsa_service_account(
            "checks",
            CHECKS_SA,
            [
                {
                    "Sid": "ReadTheStackOutputs",
                    "Effect": "Allow",
                    "Action": "ssm:GetParameter",
                    "Resource": arns.apply(lambda a: a["parameter"]),
                },
                {
                    "Sid": "ReadTheReplicatedBackups",
                    "Effect": "Allow",
                    "Action": "rds:DescribeDBInstanceAutomatedBackups",
                    "Resource": arns.apply(lambda a: a["backups"]),
                },
                {
                    "Sid": "PublishTheAge",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",  # PutMetricData has no resource type; the condition scopes it
                    "Condition": {"StringEquals": {"cloudwatch:namespace": DR_PATH_METRIC_NAMESPACE}},
                },
            ],
        )

    def _checks_cronjob(self, spec: ChecksSpec) -> k8s.batch.v1.CronJob:
        args = [
            "check",
            "replicated-backups",
            "--stack-outputs",
            stack_outputs_location(spec.stack, spec.dr_region),
            "--metric-namespace",
            DR_PATH_METRIC_NAMESPACE,
            "--metric-stack",
            spec.stack,
            "--json",
        ]
        return self._runbook_cronjob(
            RunbookCronJob(
                suffix="checks",
                name="idp-dr-checks",
                component="checks",
                container="check-replicated-backups",
                service_account=CHECKS_SA,
                image=spec.image,
                schedule=spec.schedule,
                args=args,
                env=[{"name": "AWS_REGION", "value": spec.dr_region}],
                deadline_s=10 * 60,
                backoff=1,
                starting_deadline_s=1800,
            )
        )

    def _replicated_backups_alarm(self, spec: ChecksSpec) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-replicated-backups-age",
            alarm_description=(
                f"idp-dr {spec.stack}: the replicated automated backups' newest restorable point is older than the "
                f"RPO target ({spec.rpo_target_s} s), or the check stopped reporting: backup replication stopped or "
                "fails, and a failover by restore would lose more than promised"
            ),
            namespace=DR_PATH_METRIC_NAMESPACE,
            metric_name=REPLICATED_BACKUP_AGE_METRIC,
            dimensions={"Stack": spec.stack},
            statistic="Maximum",
            period=3600,
            # Two hourly periods: one late or missed run is not yet an incident; two are.
            evaluation_periods=2,
            datapoints_to_alarm=2,
            threshold=spec.rpo_target_s,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=[spec.alarm_topic_arn],
            ok_actions=[spec.alarm_topic_arn],
            tags=tags(self._args.tag_base),
            opts=opts(self, self._args.aws_site.provider),
        )
