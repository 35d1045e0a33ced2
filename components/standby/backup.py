"""The scheduled dump: ``idp-dr backup dump`` as a CronJob in the primary cluster, and its freshness alarm.

The job logs in as the IdP's own role (the site's DB Secret, already synced there), verifies the TLS
server certificate like the IdP does, writes only under ``dumps/`` of the primary archive bucket
(replicated to DR, expired per tier by the bucket's lifecycle), and publishes ``VerifiedDumps`` after
each verified dump. The alarm fires when none arrived for 26 hours: a failed, stuck or unscheduled job
all look the same to it, which is the point.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._common import opts, partition_of, tags
from components.standby.pods import PodBuilder, RunbookCronJob
from components.standby.spec import BackupSpec
from contract.backups import DUMP_PREFIX, METRIC_NAME, METRIC_NAMESPACE
from contract.secrets import DB_SECRET_KEYS

BACKUP_SA = "idp-dr-backup"
FRESHNESS_HOURS = 26


class BackupBuilder(PodBuilder):
    """Builds the dump CronJob (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _backup(self, spec: BackupSpec) -> k8s.batch.v1.CronJob:
        self._backup_service_account(spec)
        job = self._backup_cronjob(spec)
        self._freshness_alarm(spec)
        return job

    def _backup_service_account(self, spec: BackupSpec) -> None:
        partition = partition_of(spec.region)
        bucket_arn = pulumi.Output.from_input(spec.bucket_name).apply(lambda b: f"arn:{partition}:s3:::{b}")
        self._irsa_service_account(
            "backup",
            BACKUP_SA,
            [
                {
                    "Sid": "WriteAndReadBackDumps",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                    "Resource": pulumi.Output.concat(bucket_arn, f"/{DUMP_PREFIX}/*"),
                },
                {
                    "Sid": "UseTheArchiveKeyThroughS3",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
                    "Resource": spec.key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{spec.region}.amazonaws.com"}},
                },
                {
                    "Sid": "PublishFreshness",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",  # PutMetricData has no resource type; the condition scopes it
                    "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
                },
            ],
        )

    def _backup_cronjob(self, spec: BackupSpec) -> k8s.batch.v1.CronJob:
        keys = DB_SECRET_KEYS[self.app]
        env = [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": self.db_secret_name, "key": keys[field]}}}
            for name, field in (
                ("DB_HOST", "host"),
                ("DB_PORT", "port"),
                ("DB_NAME", "dbname"),
                ("DB_USER", "username"),
                ("PGPASSWORD", "password"),
            )
        ]
        env.append({"name": "AWS_REGION", "value": spec.region})
        tls = self._args.db_tls
        dsn = f"host=$(DB_HOST) port=$(DB_PORT) dbname=$(DB_NAME) user=$(DB_USER) sslmode={tls.mode}"
        if self._db_ca_path:
            dsn += f" sslrootcert={self._db_ca_path}"
        args = pulumi.Output.all(spec.bucket_name, spec.key_arn).apply(
            lambda values: [
                *("backup", "dump", "--idp", self.app, "--db-dsn", dsn, "--archive", f"s3://{values[0]}"),
                *("--kms-key-arn", values[1], "--metric-namespace", METRIC_NAMESPACE, "--metric-stack", spec.stack),
                "--json",
            ]
        )
        volumes, mounts = self._db_ca_volume()
        return self._runbook_cronjob(
            RunbookCronJob(
                suffix="backup-dump",
                name="idp-dr-backup-dump",
                component="backup",
                container="backup-dump",
                service_account=BACKUP_SA,
                image=spec.image,
                schedule=spec.schedule,
                args=args,
                env=env,
                deadline_s=spec.deadline_minutes * 60,
                volumes=volumes,
                mounts=mounts,
                resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            )
        )

    def _freshness_alarm(self, spec: BackupSpec) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-backup-freshness",
            alarm_description=(
                f"idp-dr {spec.stack}: no verified dump for {FRESHNESS_HOURS} hours (the dump CronJob failed, "
                "hangs or does not run); the 90-day and 1-year tiers depend on it"
            ),
            namespace=METRIC_NAMESPACE,
            metric_name=METRIC_NAME,
            dimensions={"Stack": spec.stack},
            statistic="Sum",
            period=3600,
            # All of the last 26 hours empty (missing data counts as breaching) = no dump in 26 hours.
            evaluation_periods=FRESHNESS_HOURS,
            datapoints_to_alarm=FRESHNESS_HOURS,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=[spec.alarm_topic_arn],
            ok_actions=[spec.alarm_topic_arn],
            tags=tags(self._args.tag_base),
            opts=opts(self, self._args.aws_site.provider),
        )
