"""``recover``'s last step: what follows the database that now serves, and what Pulumi must be told.

A mixin of :class:`scripts.recover.recover.Recover`.

With ``swap`` the restored instance has the original identifier, so what names it follows it: the
CloudWatch alarms (their dimension is the identifier), the stack outputs, every client's endpoint and
Pulumi's resource ID. What is bound to the *instance* does not: cross-region automated-backup
replication (keyed by the source's resource) is started for the restored instance here, into the DR
region with the DR key; the damaged instance's replication keeps following the damaged instance, and the
report says how to stop it. The DR read replica is rebuilt by the next step (:mod:`scripts.recover.reprotect`).
With ``repoint`` nothing follows: the report lists what the stack must be told.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import error_code, error_message
from scripts.aws.rds import describe_instance
from scripts.errors import DrError


class Follow:
    def follow(self) -> dict[str, Any]:
        if self.journal.pinned["method"] == "swap":
            return self._follow_swap()
        return self._follow_repoint()

    def _follow_swap(self) -> dict[str, Any]:
        out, names = self.out, self.names
        detail: dict[str, Any] = {"alarms": self._alarms(), "backup_replication": self._replicate_backups()}
        damaged = describe_instance(self.aws, out.primaryRegion, names.damaged) or {}
        self.todo += [
            f"pulumi refresh: the primary's ID is still {names.original}; refresh reads the restored instance's "
            "attributes (its resource ID, creation time, latest restorable time) and should show no replacement",
            f"stop replicating the damaged instance's backups once its forensics are done: aws rds "
            f"stop-db-instance-automated-backups-replication --region {out.drRegion} --source-db-instance-arn "
            f"{damaged.get('DBInstanceArn')}",
            f"delete the damaged instance when it is no longer needed: aws rds modify-db-instance --region "
            f"{out.primaryRegion} --db-instance-identifier {names.damaged} --no-deletion-protection, then "
            "delete-db-instance (take a final snapshot)",
        ]
        return detail

    def _alarms(self) -> list[str]:
        cloudwatch = self.aws.client("cloudwatch", self.out.primaryRegion)
        found = self.aws.call(cloudwatch, "DescribeAlarms").get("MetricAlarms", [])
        return [
            a["AlarmName"]
            for a in found
            if {"Name": "DBInstanceIdentifier", "Value": self.names.original} in a.get("Dimensions", [])
        ]

    def _replicate_backups(self) -> dict[str, Any]:
        out, pinned = self.out, self.journal.pinned
        serving = describe_instance(self.aws, out.primaryRegion, self.names.original) or {}
        rds = self.aws.client("rds", out.drRegion)
        try:
            self.aws.call(
                rds,
                "StartDBInstanceAutomatedBackupsReplication",
                SourceDBInstanceArn=serving["DBInstanceArn"],
                KmsKeyId=out.database.drKmsKeyArn,
                BackupRetentionPeriod=int(serving.get("BackupRetentionPeriod") or 7),
                SourceRegion=out.primaryRegion,
            )
        except (ClientError, DrError) as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else ""
            if "already" in str(exc).lower() or code == "DBInstanceAutomatedBackupQuotaExceeded":
                return {"to": out.drRegion, "note": "already replicating"}
            text = exc.message if isinstance(exc, DrError) else f"{code}: {error_message(exc)}"
            self.report.check(
                "follow.backup_replication",
                False,
                f"backups of the new primary are NOT replicated to {out.drRegion}: {text[:200]}; "
                "re-run recover to retry",
            )
            return {"to": out.drRegion, "started": False}
        pinned["backup_replication"] = out.drRegion
        self.report.check(
            "follow.backup_replication",
            True,
            f"automated backups of {self.names.original} (the restored instance) replicate to "
            f"{out.drRegion} with {out.database.drKmsKeyArn}",
        )
        return {"to": out.drRegion, "started": True, "kms_key": out.database.drKmsKeyArn}

    def _follow_repoint(self) -> dict[str, Any]:
        names, out = self.names, self.out
        self.todo += [
            f"the stack still owns the damaged {names.original} as the primary, and its endpoint secret: the next "
            f"'pulumi up' writes {names.original}'s endpoint back. Before it, move the stack to {names.restored}: "
            f"'pulumi state delete <URN of the primary instance>' (the instance stays in AWS), then 'pulumi import "
            f"aws:rds/instance:Instance <its resource name> {names.restored}' (pulumi stack --show-urns lists both)",
            f"the stack's config names the instance {names.original}: an import under that resource makes "
            f"'pulumi up' want to rename {names.restored}; a later 'recover --method swap' avoids that",
            f"cross-region backup replication, the alarms and the DR replica still follow {names.original} "
            f"(the damaged instance); stack outputs still name it: re-export them after the import",
        ]
        return {"serving": names.restored, "stack_owns": names.original, "region": out.primaryRegion}
