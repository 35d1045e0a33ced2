"""Failover steps 7 and 8: cut traffic with the sticky Route 53 failover, then re-protect.

A mixin of :class:`scripts.failover.failover.Failover`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from scripts.aws import route53 as dns
from scripts.aws.client import error_code, error_message
from scripts.errors import DrError, RefusedError


class TrafficSteps:
    """Steps of a :class:`~scripts.failover.failover.Failover` (uses its options, outputs and adapters)."""

    def preflight_records(self, detail: dict[str, Any]) -> None:
        """The sticky-failover health checks hold and the failover records point where the stack says."""
        d = self.out.dns
        problems = dns.sticky_problems(self.aws, d.primaryHealthCheckId, d.primaryRecordHealthCheckId)
        if problems:
            raise RefusedError(
                "sticky failover would not hold: " + "; ".join(problems),
                hint="fix the health checks in the stack (dns.*), then re-run",
            )
        records = dns.failover_records(self.aws, d.zoneId, d.recordName)
        primary_record = records.get("PRIMARY")
        if primary_record is None or "SECONDARY" not in records:
            raise RefusedError(
                f"{d.recordName} has no PRIMARY/SECONDARY failover records in zone {d.zoneId}",
                hint="the stack creates them; check dns.zoneId and dns.recordName",
            )
        if primary_record.get("HealthCheckId") != d.primaryRecordHealthCheckId:
            raise RefusedError(
                f"the PRIMARY record uses health check {primary_record.get('HealthCheckId')}, not "
                f"{d.primaryRecordHealthCheckId} (dns.primaryRecordHealthCheckId)"
            )
        if records["SECONDARY"].get("HealthCheckId"):
            self.report.notes.append(
                "the SECONDARY record has a health check: while it is unhealthy Route 53 answers with the "
                "PRIMARY "
                "(pilot-light standbys should not have one)"
            )
        detail["records"] = {k: {"health_check": v.get("HealthCheckId")} for k, v in records.items()}

    # -- 7. cut traffic ----------------------------------------------------------------------
    def cut_traffic(self) -> dict[str, Any]:
        d = self.out.dns
        changed = dns.set_path(self.aws, d.primaryHealthCheckId, d.failedOverPath)
        detail: dict[str, Any] = {
            "health_check": d.primaryHealthCheckId,
            "resource_path": d.failedOverPath,
            "changed": changed,
        }
        self.report.check(
            "cut-traffic.sticky",
            dns.current_path(self.aws, d.primaryHealthCheckId) == d.failedOverPath,
            f"primary readiness check {d.primaryHealthCheckId} now probes {d.failedOverPath} "
            "(stays unhealthy until failback)",
        )
        if self.o.dns_wait_s <= 0:
            self.report.check(
                "cut-traffic.route53",
                None,
                "not waited for Route 53 to mark the primary unhealthy (--dns-wait 0)",
            )
            return detail

        final = dns.wait_primary_health(
            self.aws,
            d.primaryRecordHealthCheckId,
            healthy=False,
            timeout=self.o.dns_wait_s,
            clock=self.clock,
            on_update=self.progress.update,
            timeout_hint="the sticky path is set; Route 53 needs interval x threshold to react. "
            "Re-run to keep waiting (or --dns-wait 0 to skip)",
        )
        self.report.check("cut-traffic.route53", True, f"Route 53 reports the primary unhealthy: {final.detail}")
        detail["route53"] = final.to_dict()
        return detail

    # -- 8. re-protect ---------------------------------------------------------------------------
    def reprotect(self) -> dict[str, Any]:
        """Replicate the new primary's automated backups to the old primary region (best effort)."""
        db = self.incident.db
        if db is None:
            raise RefusedError("no database in the incident to replicate", hint="re-run: the database step runs first")
        primary_rds = self.primary_aws.client("rds", self.out.primaryRegion)
        try:
            old = self.primary_aws.call(
                primary_rds, "DescribeDBInstances", DBInstanceIdentifier=self.out.database.primaryInstanceId
            )["DBInstances"][0]
            kms = old.get("KmsKeyId")
            self.primary_aws.call(
                primary_rds,
                "StartDBInstanceAutomatedBackupsReplication",
                SourceDBInstanceArn=db.arn,
                KmsKeyId=kms,
                BackupRetentionPeriod=int(old.get("BackupRetentionPeriod") or 7),
                SourceRegion=self.out.drRegion,
            )
        except (ClientError, DrError, NotImplementedError) as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else ""
            if code == "DBInstanceAutomatedBackupQuotaExceeded" or "already" in str(exc).lower():
                return {"replicating_to": self.out.primaryRegion, "note": "already replicating"}
            text = exc.message if isinstance(exc, DrError) else f"{code}: {error_message(exc)}" if code else str(exc)
            self.report.notes.append(
                f"reprotect deferred: backups of {db.instance_id} are NOT replicated to "
                f"{self.out.primaryRegion} yet ({text[:200]}); re-run failover later to retry"
            )
            return {"_deferred": True, "reason": text[:300]}
        return {"replicating_to": self.out.primaryRegion, "source": db.arn, "kms_key": kms}
