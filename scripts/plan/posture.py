"""The stack's DR posture (what a failover would take) and the DR policy checks over the rendered program."""

from __future__ import annotations

from typing import Any

from scripts.offline import OfflineRun
from scripts.plan.summaries import plain, region_of_arn
from scripts.report import Report

#: Observed RDS point-in-time restore durations (terraform-provider-aws PR #32928; openFEC #4643).
OBSERVED_RDS_RESTORE_S = (22 * 60, 32 * 60)


#: Promoting a read replica: "several minutes" (AWS docs); used only for the posture estimate.
ESTIMATED_PROMOTION_S = 10 * 60


MIN_PITR_DAYS = 7


def posture_of(cfg, offline: OfflineRun) -> dict[str, Any]:
    interval, threshold = cfg.dns.health_check.request_interval, cfg.dns.health_check.failure_threshold
    detection = interval * threshold
    dns_switch = detection + cfg.dns.ttl
    db = cfg.database
    if db.mode == "rds" and db.dr_read_replica:
        db_path, db_estimate = "promote the DR read replica", ESTIMATED_PROMOTION_S
    elif db.mode == "rds":
        db_path, db_estimate = "restore from replicated automated backups", OBSERVED_RDS_RESTORE_S[1]
    else:
        db_path, db_estimate = "restore from the replicated WAL archive (barman-cloud)", None
    return {
        "detection_s": detection,
        "detection": f"{interval} s x {threshold} checks = {detection} s",
        "failover_ttl_s": cfg.dns.ttl,
        "dns_switch_worst_case_s": dns_switch,
        "standby_mode": cfg.standby.standby_mode,
        "standby_replicas": {"primary": cfg.standby.primary_replicas, "dr": cfg.standby.dr_replicas},
        "pitr_window_days": db.backup_retention_days if db.mode == "rds" else cfg.wal_retention_days,
        "replicated_backup_retention_days": db.replicated_retention if db.mode == "rds" else None,
        "database_failover_path": db_path,
        "database_failover_estimate_s": db_estimate,
        "replication": _replication_targets(offline),
        "issuer": cfg.idp.issuer,
        "issuer_health_check": cfg.dns.health_check.issuer_check,
        "secondary_record_health_check": cfg.dns.secondary_record_health_check,
        "targets": {"rpo_s": cfg.targets.rpo_seconds, "rto_s": cfg.targets.rto_seconds},
    }


def _replication_targets(offline: OfflineRun) -> list[str]:
    out = []
    rec = offline.recorder
    for record in rec.of_type("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"):
        out.append(
            f"RDS automated backups -> {record.region} ({plain(record.inputs.get('retentionPeriod'))} d, "
            f"KMS in {region_of_arn(record.inputs.get('kmsKeyId'))})"
        )
    for record in rec.of_type("aws:rds/instance:Instance"):
        if record.inputs.get("replicateSourceDb"):
            out.append(f"RDS read replica -> {record.region} ({record.inputs.get('identifier')})")
    for record in rec.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        dest = record.inputs["rules"][0]["destination"]
        out.append(
            f"S3 {record.name.removesuffix('-replication')} -> {dest['bucket'].split(':::')[-1]} (RTC "
            f"{'on' if dest.get('replicationTime', {}).get('status') == 'Enabled' else 'off'})"
        )
    for record in rec.of_type("aws:secretsmanager/secret:Secret"):
        for replica in record.inputs.get("replicas", []):
            out.append(f"secret {record.inputs.get('name')} -> {replica.get('region')}")
    return out


def render_posture(posture: dict[str, Any]) -> list[str]:
    estimate = posture["database_failover_estimate_s"]
    lines = [
        "== DR posture ==",
        f"  detection      {posture['detection']}; failover records TTL {posture['failover_ttl_s']} s "
        f"(DNS switch <= {posture['dns_switch_worst_case_s']} s plus resolver caching)",
        f"  standby        {posture['standby_mode']} (primary {posture['standby_replicas']['primary']} / "
        f"DR {posture['standby_replicas']['dr']} replicas)",
        f"  PITR window    {posture['pitr_window_days']} days"
        + (
            f"; replicated backups kept {posture['replicated_backup_retention_days']} days"
            if posture["replicated_backup_retention_days"]
            else ""
        ),
        f"  database       {posture['database_failover_path']}"
        + (f" (about {estimate // 60} min)" if estimate else ""),
        f"  issuer         {posture['issuer']}" + (" (checked by Route 53)" if posture["issuer_health_check"] else ""),
        f"  targets        RPO {posture['targets']['rpo_s']} s, RTO {posture['targets']['rto_s']} s",
        "  replication:",
        *[f"    {line}" for line in posture["replication"]],
        "",
    ]
    return lines


def policy_checks(report: Report, cfg, offline: OfflineRun, posture: dict[str, Any]) -> None:
    """Every DR policy rule over the rendered program, one check each (``plan`` fails on any)."""
    for rule in (_rds_instances, _rds_cross_region_backups, _s3_replication, _dns_failover_pair, _same_image):
        rule(report, cfg, offline)
    _rto_budget(report, cfg, posture)
    if offline.recorder.calls:
        report.check("preview.no-invokes", False, f"the program invoked {offline.recorder.calls}")


def _rds_instances(report: Report, cfg, offline: OfflineRun) -> None:
    """Deletion protection, the PITR window, backups kept on delete, no password in state."""
    rec = offline.recorder
    instances = [r for r in rec.of_type("aws:rds/instance:Instance") if not r.inputs.get("replicateSourceDb")]
    for inst in instances:
        i = inst.inputs
        report.check(
            "rds.deletion-protection",
            bool(i.get("deletionProtection")),
            "deletion protection on"
            if i.get("deletionProtection")
            else "deletion protection is off: one API call deletes the production database",
            instance=inst.name,
        )
        retention = plain(i.get("backupRetentionPeriod") or 0)
        report.check(
            "rds.pitr-window",
            retention >= MIN_PITR_DAYS,
            f"PITR window {retention} days"
            + ("" if retention >= MIN_PITR_DAYS else f" (policy: at least {MIN_PITR_DAYS})"),
            instance=inst.name,
            days=retention,
        )
        report.check(
            "rds.backups-survive-delete",
            i.get("deleteAutomatedBackups") is False and not i.get("skipFinalSnapshot"),
            "automated backups kept and a final snapshot taken on delete",
            instance=inst.name,
        )
        managed = cfg.database.manage_master_password
        report.check(
            "rds.no-password-in-state",
            ("password" not in i) if managed else True,
            "master password managed by RDS in Secrets Manager (no password input)"
            if managed
            else "master password supplied as a Pulumi secret (manageMasterPassword: false)",
            instance=inst.name,
        )


def _rds_cross_region_backups(report: Report, cfg, offline: OfflineRun) -> None:
    rec = offline.recorder
    if cfg.database.mode == "rds":
        replications = rec.of_type("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication")
        ok = (
            len(replications) == 1
            and replications[0].region == cfg.dr_region
            and region_of_arn(replications[0].inputs.get("kmsKeyId")) == cfg.dr_region
        )
        report.check(
            "rds.cross-region-backups",
            ok,
            f"automated backups replicated to {cfg.dr_region} with a key there"
            if ok
            else "automated backups are not replicated to the DR region with a DR-region key",
        )


def _s3_replication(report: Report, cfg, offline: OfflineRun) -> None:
    rec = offline.recorder
    s3_replications = rec.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    rtc_ok = bool(s3_replications) and all(
        r.inputs["rules"][0]["destination"].get("replicationTime", {}).get("status") == "Enabled"
        for r in s3_replications
    )
    report.check(
        "s3.replication-rtc",
        rtc_ok,
        f"{len(s3_replications)} bucket replication(s) with RTC 15 min"
        if rtc_ok
        else "bucket replication with Replication Time Control is missing",
    )


def _dns_failover_pair(report: Report, cfg, offline: OfflineRun) -> None:
    rec = offline.recorder
    records = [r for r in rec.of_type("aws:route53/record:Record") if r.inputs.get("failoverRoutingPolicies")]
    ttls = {plain(r.inputs.get("ttl")) for r in records}
    report.check(
        "dns.failover-pair",
        len(records) == 2 and max(ttls) <= 60,
        f"PRIMARY/SECONDARY records, TTL {', '.join(map(str, sorted(ttls)))} s",
        records=len(records),
    )


def _same_image(report: Report, cfg, offline: OfflineRun) -> None:
    rec = offline.recorder
    images = {
        r.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        for r in rec.of_type("kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"].get("name") in ("keycloak", "authentik-server")
    }
    report.check(
        "standby.same-image",
        len(images) == 1,
        f"both sites run {next(iter(images))}" if len(images) == 1 else f"sites differ: {sorted(images)}",
    )


def _rto_budget(report: Report, cfg, posture: dict[str, Any]) -> None:
    budget = posture["dns_switch_worst_case_s"] + (posture["database_failover_estimate_s"] or 0)
    within = budget <= cfg.targets.rto_seconds
    report.check(
        "rto.budget",
        within,
        f"detection + DNS + database failover estimate = {budget} s "
        f"{'within' if within else 'EXCEEDS'} the RTO target of {cfg.targets.rto_seconds} s",
        estimate_s=budget,
        target_s=cfg.targets.rto_seconds,
    )
