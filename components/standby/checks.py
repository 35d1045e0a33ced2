"""The DR side's scheduled checks: ``idp-dr check dr-paths`` hourly in the DR cluster, and their alarms.

* RDS publishes no metric for cross-region automated-backup replication: a replication that stopped or
  fails only shows as replicated backups whose newest restorable point falls behind. The job publishes
  that age (``ReplicatedBackupAgeSeconds``); its alarm fires above the RPO target (rds mode).
* A DR-region key scheduled for deletion or disabled makes what it encrypts unrestorable once it is gone;
  KMS waits 7 to 30 days first. The job publishes how many are not enabled (``DrKeysNotEnabled``).

Both alarms, in the DR region, also fire when no value arrives for two hours: a check that stopped running
is a DR path no one watches. The job runs where a failover runs, so it keeps working while the primary
region is down. It only reads, and puts its metrics.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components._common import account_of, partition_of
from components.standby.alarms import DrPathAlarm, dr_path_alarm
from components.standby.pods import PodBuilder, RunbookCronJob
from components.standby.spec import ChecksSpec
from contract.backups import (
    DR_KEYS_METRIC,
    DR_PATH_METRIC_NAMESPACE,
    DR_PROTECTION_GAPS_METRIC,
    REPLICATED_BACKUP_AGE_METRIC,
    WAL_ARCHIVER_FAILING_METRIC,
)
from contract.drills import DRILL_RECORD_PREFIX
from contract.outputs import STACK_OUTPUTS_PARAMETER, stack_outputs_location
from contract.runbook import TOPOLOGY_RECORD_PREFIX

CHECKS_SA = "idp-dr-checks"


class ChecksBuilder(PodBuilder):
    """Builds the checks CronJob and its alarm (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _checks(self, spec: ChecksSpec) -> k8s.batch.v1.CronJob:
        self._checks_service_account(spec)
        if spec.rds:
            self._dr_path_alarm(
                spec,
                "replicated-backups-age",
                REPLICATED_BACKUP_AGE_METRIC,
                spec.rpo_target_s,
                f"the replicated automated backups' newest restorable point is older than the RPO "
                f"target ({spec.rpo_target_s} s): backup replication stopped or fails, and a "
                "failover by restore would lose more than promised",
            )
        if spec.wal_archiver_credentials_arn is not None:
            self._dr_path_alarm(
                spec,
                "wal-archiving-failing",
                WAL_ARCHIVER_FAILING_METRIC,
                0,
                "the self-managed primary's WAL archiving fails (pg_stat_archiver: its last failure is newer than "
                "its last success) or cannot be read: the archive, and a point-in-time recovery from the DR "
                "region, ends at the last segment that made it",
            )
        if spec.rds:
            self._dr_path_alarm(
                spec,
                "protection-gaps",
                DR_PROTECTION_GAPS_METRIC,
                0,
                "the serving primary is not protected: the DR replica replicates another instance, its backups are "
                "not replicated to the DR region, or a failover has gone unprotected (no reprotect) too long; see "
                "the check's protection.* lines",
            )
        self._dr_path_alarm(
            spec,
            "dr-keys-not-enabled",
            DR_KEYS_METRIC,
            0,
            "a DR-region key is scheduled for deletion, disabled or unreadable: the replicated "
            "backups, the DR replica or the DR archive it encrypts will not restore",
        )
        return self._checks_cronjob(spec)

    def _checks_service_account(self, spec: ChecksSpec) -> None:
        partition = partition_of(spec.dr_region)
        arns = account_of(spec.dr_key_arn).apply(
            lambda account: {
                "parameter": f"arn:{partition}:ssm:{spec.dr_region}:{account}:parameter"
                + STACK_OUTPUTS_PARAMETER.format(stack=spec.stack),
                "backups": f"arn:{partition}:rds:{spec.dr_region}:{account}:auto-backup:*",
                "keys": f"arn:{partition}:kms:{spec.dr_region}:{account}:key/*",
            }
        )
        self._irsa_service_account(
            "checks",
            CHECKS_SA,
            [
                *self._drill_record_reads(spec),
                *self._protection_reads(spec),
                *self._wal_archiver_reads(spec),
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
                    "Sid": "ReadTheDrKeysState",
                    "Effect": "Allow",
                    "Action": "kms:DescribeKey",
                    "Resource": arns.apply(lambda a: a["keys"]),
                },
                {
                    "Sid": "PublishTheMetrics",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",  # PutMetricData has no resource type; the condition scopes it
                    "Condition": {"StringEquals": {"cloudwatch:namespace": DR_PATH_METRIC_NAMESPACE}},
                },
            ],
        )

    @staticmethod
    def _drill_record_reads(spec: ChecksSpec) -> list[dict]:
        """With drills: list and read the drill records, and see the DR bucket's creation date (no drill yet)."""
        if spec.drill_max_age_days is None or spec.dr_bucket_name is None:
            return []
        bucket = pulumi.Output.from_input(spec.dr_bucket_name).apply(
            lambda b: f"arn:{partition_of(spec.dr_region)}:s3:::{b}"
        )
        return [
            {
                "Sid": "ListTheDrillRecords",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket,
                "Condition": {"StringLike": {"s3:prefix": [f"{DRILL_RECORD_PREFIX}*"]}},
            },
            {
                "Sid": "ReadTheDrillRecords",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": pulumi.Output.concat(bucket, f"/{DRILL_RECORD_PREFIX}*"),
            },
            {"Sid": "SeeTheDrBucketsCreationDate", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
            {
                "Sid": "DecryptTheDrillRecordsThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": spec.dr_bucket_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{spec.dr_region}.amazonaws.com"}},
            },
        ]

    @staticmethod
    def _protection_reads(spec: ChecksSpec) -> list[dict]:
        """rds: the serving primary and the DR replica (by identifier, in their regions), and the topology record."""
        if not spec.rds or spec.dr_bucket_name is None:
            return []
        p = partition_of(spec.dr_region)
        bucket = pulumi.Output.from_input(spec.dr_bucket_name).apply(lambda b: f"arn:{p}:s3:::{b}")
        instances = account_of(spec.dr_key_arn).apply(
            lambda account: [f"arn:{p}:rds:{region}:{account}:db:*" for region in (spec.primary_region, spec.dr_region)]
        )
        return [
            {
                "Sid": "ReadThePrimaryAndTheDrReplica",
                "Effect": "Allow",
                "Action": "rds:DescribeDBInstances",
                "Resource": instances,
            },
            {
                "Sid": "ReadTheTopologyRecord",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": pulumi.Output.concat(bucket, f"/{TOPOLOGY_RECORD_PREFIX}*"),
            },
            {
                "Sid": "DecryptTheTopologyRecordThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": spec.dr_bucket_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{spec.dr_region}.amazonaws.com"}},
            },
        ]

    @staticmethod
    def _wal_archiver_reads(spec: ChecksSpec) -> list[dict]:
        """Self-managed: the IdP's role (its DR replica) to read pg_stat_archiver on the primary as."""
        if spec.wal_archiver_credentials_arn is None:
            return []
        via = {"StringEquals": {"kms:ViaService": f"secretsmanager.{spec.dr_region}.amazonaws.com"}}
        return [
            {
                "Sid": "ReadTheIdpsDatabaseRole",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": spec.wal_archiver_credentials_arn,
            },
            {
                "Sid": "DecryptTheIdpsDatabaseRole",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": spec.dr_key_arn,
                "Condition": via,
            },
        ]

    def _wal_archiver_args(self, spec: ChecksSpec) -> tuple[list[str], list[dict], list[dict]]:
        """The flags, and the CA volume and mount, of the WAL-archiving check (the IdP's own TLS settings)."""
        if spec.wal_archiver_credentials_arn is None:
            return [], [], []
        volumes, mounts = self._db_ca_volume()
        args = ["--wal-archiver", "--db-sslmode", self._args.db_tls.mode]
        return args + (["--db-sslrootcert", str(self._db_ca_path)] if self._db_ca_path else []), volumes, mounts

    def _checks_cronjob(self, spec: ChecksSpec) -> k8s.batch.v1.CronJob:
        archiver_args, volumes, mounts = self._wal_archiver_args(spec)
        args = [
            "check",
            "dr-paths",
            "--stack-outputs",
            stack_outputs_location(spec.stack, spec.dr_region),
            "--metric-namespace",
            DR_PATH_METRIC_NAMESPACE,
            "--metric-stack",
            spec.stack,
            *(["--drill-max-age-days", str(spec.drill_max_age_days)] if spec.drill_max_age_days else []),
            *archiver_args,
            "--json",
        ]
        return self._runbook_cronjob(
            RunbookCronJob(
                suffix="checks",
                name="idp-dr-checks",
                component="checks",
                container="check-dr-paths",
                service_account=CHECKS_SA,
                image=spec.image,
                schedule=spec.schedule,
                args=args,
                env=[{"name": "AWS_REGION", "value": spec.dr_region}],
                deadline_s=10 * 60,
                backoff=1,
                starting_deadline_s=1800,
                volumes=volumes,
                mounts=mounts,
            )
        )

    def _dr_path_alarm(self, spec: ChecksSpec, suffix: str, metric: str, threshold: float, why: str) -> None:
        dr_path_alarm(
            self,
            self._name,
            DrPathAlarm(suffix, metric, threshold, f"{why} (or the check stopped reporting)"),
            stack=spec.stack,
            topic_arn=spec.alarm_topic_arn,
            provider=self._args.aws_site.provider,
            tag_base=self._args.tag_base,
        )
