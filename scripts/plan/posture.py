"""The stack's DR posture (what a failover would take) and the DR policy checks over the rendered program."""

from __future__ import annotations

import json
from typing import Any

from pulumi.runtime import rpc

from policy.rules import RULES, Resource
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
        source = "assumed; AWS documents 'several minutes': measure yours with a drill"
    elif db.mode == "rds":
        db_path, db_estimate = "restore from replicated automated backups", OBSERVED_RDS_RESTORE_S[1]
        source = "the longest restore observed in terraform-provider-aws #32928 and openFEC #4643"
    else:
        db_path, db_estimate = "restore from the replicated WAL archive (barman-cloud)", None
        source = None
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
        "database_failover_estimate_source": source,
        "replication": _replication_targets(offline),
        "alarms": _alarms(offline),
        "issuer": cfg.idp.issuer,
        "issuer_health_check": cfg.dns.health_check.issuer_check,
        "secondary_record_health_check": cfg.dns.secondary_record_health_check,
        "targets": {"rpo_s": cfg.targets.rpo_seconds, "rto_s": cfg.targets.rto_seconds},
        "last_copy": _last_copy(cfg),
    }


def _last_copy(cfg) -> dict[str, Any]:
    """What survives production's credentials being stolen (components.config.protection)."""
    if cfg.vault is not None:
        v = cfg.vault
        text = (
            f"vault: account {v.account_id} ({v.region}) holds the archive under a COMPLIANCE lock of "
            f"{cfg.vault_lock_days} d and the database's snapshots under Vault Lock ({v.backup_retention_days} d)"
        )
    elif cfg.protection.break_glass_role_arn:
        text = (
            f"guarded keys: only {cfg.protection.break_glass_role_arn} may destroy the DR keys or unlock the "
            "DR bucket; every copy is still in the production account"
        )
    else:
        text = (
            "none: every copy is in the production account, and its administrators can destroy them all "
            "(set idp-dr:vault, or at least idp-dr:protection.breakGlassRoleArn)"
        )
    return {"posture": cfg.posture, "text": text}


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
        for rule in record.inputs["rules"]:
            dest = rule["destination"]
            account = f", account {dest['account']}" if dest.get("account") else ""
            out.append(
                f"S3 {record.name.removesuffix('-replication')} -> {dest['bucket'].split(':::')[-1]} (RTC "
                f"{'on' if dest.get('replicationTime', {}).get('status') == 'Enabled' else 'off'}{account})"
            )
    for record in rec.of_type("aws:secretsmanager/secret:Secret"):
        for replica in record.inputs.get("replicas", []):
            out.append(f"secret {record.inputs.get('name')} -> {replica.get('region')}")
    return out


_OPERATORS = {
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanOrEqualToThreshold": "<=",
}


def _alarms(offline: OfflineRun) -> list[str]:
    """Every alarm of the DR paths: what it watches, its threshold, and the region whose topic it notifies."""
    out = []
    for record in offline.recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        i = record.inputs
        operator = _OPERATORS.get(i.get("comparisonOperator"), i.get("comparisonOperator"))
        topics = ", ".join(sorted({region_of_arn(plain(a)) for a in i.get("alarmActions", [])})) or "no topic"
        out.append(
            f"{record.name}: {i.get('namespace')} {i.get('metricName')} {operator} "
            f"{plain(i.get('threshold'))} -> {topics}"
        )
    targets = {plain(t.inputs.get("rule")): plain(t.inputs.get("arn")) for t in
               offline.recorder.of_type("aws:cloudwatch/eventTarget:EventTarget")}  # fmt: skip
    for record in offline.recorder.of_type("aws:cloudwatch/eventRule:EventRule"):
        pattern = json.loads(plain(record.inputs.get("eventPattern")) or "{}")
        detail = pattern.get("detail") or {}
        events = "|".join(detail.get("eventName") or detail.get("EventID") or pattern.get("detail-type") or [])
        topic = targets.get(plain(record.inputs.get("name"))) or targets.get(record.name) or ""
        out.append(f"{record.name}: EventBridge {','.join(pattern.get('source', []))} {events} -> "
                   f"{region_of_arn(topic) if topic else 'no topic'}")  # fmt: skip
    return sorted(out)


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
        + (f" (estimate {estimate // 60} min: {posture['database_failover_estimate_source']})" if estimate else ""),
        f"  issuer         {posture['issuer']}" + (" (checked by Route 53)" if posture["issuer_health_check"] else ""),
        f"  targets        RPO {posture['targets']['rpo_s']} s, RTO {posture['targets']['rto_s']} s",
        f"  last copy      {posture['last_copy']['text']}",
        "  replication:",
        *[f"    {line}" for line in posture["replication"]],
        "  alarms (each to the SNS topic of the region named):",
        *[f"    {line}" for line in posture["alarms"]],
        "",
    ]
    return lines


def policy_checks(report: Report, cfg, offline: OfflineRun, posture: dict[str, Any]) -> None:
    """Every rule of the policy pack (``policy/rules.py``) over the rendered program, one check each,
    then the RTO budget (it needs the config). ``plan`` fails on any mandatory rule broken."""
    resources = rule_resources(offline)
    for rule in RULES:
        found = rule.violations(resources)
        report.check(
            rule.name,
            not found,
            found[0][1] if found else rule.holds,
            advisory=not rule.mandatory,
            **({"violations": [{"resource": where, "message": message} for where, message in found]} if found else {}),
        )
    _rto_budget(report, cfg, posture)
    if offline.recorder.calls:
        report.check("preview.no-invokes", False, f"the program invoked {offline.recorder.calls}")


def rule_resources(offline: OfflineRun) -> list[Resource]:
    """The recorded resources as the policy pack sees them: plain inputs (secrets unwrapped, whole
    numbers as ints), grouped by the provider they are created with."""
    return [
        Resource(r.typ, r.name, plain(unwrap_secrets(r.inputs)), r.provider_name or None, r.region)
        for r in offline.recorder.all()
        if r.custom and not r.is_provider
    ]


def unwrap_secrets(value: Any) -> Any:
    """The engine's secret envelopes replaced by their values, as CrossGuard hands props to a policy."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


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
