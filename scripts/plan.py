"""``plan``: the DR topology a stack would create, offline, plus DR policy checks.

Runs the Pulumi program under mocks (``scripts.offline``) with the config of
``Pulumi.<stack>.yaml``: no Pulumi CLI, no cloud account, nothing is created.
Prints the resources per region / cluster with their DR-relevant settings, a
DR posture summary (detection time, TTL, standby mode, PITR window,
replication targets), and checks DR policies on what the program actually
declared. A violated policy fails the command (exit 1), so CI can gate pull
requests on it next to ``pulumi preview``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.config import ConfigError, load_stack_config
from scripts.errors import DrError, ExitCode, ExternalError, InputError
from scripts.offline import REPO_ROOT, OfflineRun, Recorded, load_stack_file, run_program
from scripts.progress import say
from scripts.report import Report

#: Observed RDS point-in-time restore durations (terraform-provider-aws PR #32928; openFEC #4643).
OBSERVED_RDS_RESTORE_S = (22 * 60, 32 * 60)
#: Promoting a read replica: "several minutes" (AWS docs); used only for the posture estimate.
ESTIMATED_PROMOTION_S = 10 * 60
MIN_PITR_DAYS = 7


class ConfigRefused(DrError):
    exit_code = ExitCode.BAD_INPUT


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "plan",
        parents=[common],
        help="show the DR topology a stack would create (offline, under mocks) and check DR policies",
        description=(
            "Run the Pulumi program offline with a stack's config and print every resource per region "
            "and cluster with its DR-relevant settings, a DR posture summary and DR policy checks. "
            "Nothing is created and no cloud account is needed. Exit 1 when a DR policy is violated."
        ),
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--stack",
        default="prod",
        metavar="NAME",
        help="stack name: reads Pulumi.<NAME>.yaml in the project directory (default: prod)",
    )
    where.add_argument("--stack-file", type=Path, metavar="FILE", help="a stack config file to read instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    if args.stack_file is not None:
        path, field, value, stack = args.stack_file, "--stack-file", str(args.stack_file), args.stack_file.stem
    else:
        path, field, value, stack = REPO_ROOT / f"Pulumi.{args.stack}.yaml", "--stack", args.stack, args.stack
    if not path.is_file():
        existing = sorted(p.name for p in REPO_ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")
        raise InputError(
            field,
            value,
            f"a stack with a config file ({path} does not exist)",
            hint=f"stack files here: {', '.join(existing) or 'none'}",
        )

    with report.step("validate config", file=str(path)):
        config, secret_keys = load_stack_file(path)
        try:
            cfg = load_stack_config(config, secret_keys)
        except ConfigError as exc:
            raise ConfigRefused(
                f"{path.name}: {len(exc.problems)} refused setting(s):\n" + str(exc),
                hint="each key is documented in the README's configuration reference",
            ) from None

    with report.step("run program under mocks"):
        say(
            f"[plan] running the Pulumi program offline for stack {stack!r} (nothing is created)",
            enabled=not args.quiet,
        )
        try:
            offline = run_program(config, secret_keys, stack=stack)
        except Exception as exc:  # noqa: BLE001 - any program failure is reported, not a traceback
            raise ExternalError(f"the Pulumi program failed under mocks: {exc}") from None

    groups = _group(offline)
    posture = _posture(cfg, offline)
    report.preamble.extend(_render_tree(stack, path, groups, offline))
    report.preamble.extend(_render_posture(posture))
    report.result.update(
        {
            "stack": stack,
            "file": str(path),
            "resource_count": len(offline.recorder.all()),
            "groups": {name: [_resource_doc(r) for r in records] for name, records in groups.items()},
            "posture": posture,
            "outputs": {k: ("[secret]" if k in offline.secret_outputs else v) for k, v in offline.outputs.items()},
        }
    )
    report.show_result_in_text = False  # the tree above shows it; --json carries everything
    report.notes.append("--json prints every resource with its inputs' DR settings and the stack outputs")
    _policy_checks(report, cfg, offline, posture)


# --------------------------------------------------------------------------- grouping
def _group_name(record: Recorded, offline: OfflineRun, cfg_regions: dict[str, str]) -> str:
    if record.typ.startswith("pulumi:providers:"):
        return "providers"
    if record.typ.startswith("kubernetes:"):
        return {"k8s-primary": "kubernetes: primary cluster", "k8s-dr": "kubernetes: DR cluster"}.get(
            record.provider_name, f"kubernetes: {record.provider_name}"
        )
    if not record.custom:
        return "components"
    if record.typ.startswith(("aws:iam/", "aws:route53/")):
        return "aws: global (IAM, Route 53)"
    label = cfg_regions.get(record.region or "", "")
    return f"aws: {record.region}{f' ({label})' if label else ''}"


def _group(offline: OfflineRun) -> dict[str, list[Recorded]]:
    regions: dict[str, str] = {}
    for record in offline.recorder.all():
        if record.typ == "pulumi:providers:aws":
            role = {"aws-primary": "primary", "aws-dr": "DR", "aws-us-east-1": "Route 53 metrics"}
            regions.setdefault(record.inputs.get("region", ""), role.get(record.name, record.name))
    groups: dict[str, list[Recorded]] = defaultdict(list)
    for record in offline.recorder.all():
        groups[_group_name(record, offline, regions)].append(record)
    order = ["components", "providers"]
    return dict(sorted(groups.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 2, kv[0])))


def _short_type(typ: str) -> str:
    parts = typ.split(":")
    return f"{parts[0]}:{parts[-1]}" if len(parts) >= 3 else typ


def _plain(value: Any) -> Any:
    """Pulumi's engine returns numbers as floats; show 14, not 14.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _flag(i: dict[str, Any], key: str, label: str) -> str | None:
    return label if i.get(key) else None


def _aws_rds_instance(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    if i.get("replicateSourceDb"):
        return [
            "read replica of the primary",
            i.get("instanceClass"),
            "encrypted" if i.get("storageEncrypted") else "UNENCRYPTED",
            _flag(i, "deletionProtection", "deletion-protected"),
        ]
    return [
        f"postgres {i.get('engineVersion')}",
        i.get("instanceClass"),
        _flag(i, "multiAz", "Multi-AZ"),
        f"PITR {i.get('backupRetentionPeriod')} d",
        _flag(i, "deletionProtection", "deletion-protected"),
        "final snapshot" if not i.get("skipFinalSnapshot") else "NO final snapshot",
        "backups kept on delete" if i.get("deleteAutomatedBackups") is False else None,
        _flag(i, "manageMasterUserPassword", "managed master password"),
        "encrypted (CMK)" if i.get("storageEncrypted") and i.get("kmsKeyId") else None,
        "public" if i.get("publiclyAccessible") else "private",
    ]


def _aws_rds_backup_replication(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [f"retention {i.get('retentionPeriod')} d", f"KMS {_region_of_arn(i.get('kmsKeyId'))}"]


def _aws_rds_parameter_group(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [i.get("family")] + [f"{p['name']}={p['value']}" for p in i.get("parameters", [])]


def _aws_kms_key(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [_flag(i, "enableKeyRotation", "rotation on"), f"deletion window {i.get('deletionWindowInDays')} d"]


def _aws_s3_bucket(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [
        record.outputs.get("bucket"),
        _flag(i, "objectLockEnabled", "object lock"),
        "force_destroy" if i.get("forceDestroy") else None,
    ]


def _aws_s3_bucket_versioning(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [i.get("versioningConfiguration", {}).get("status")]


def _aws_s3_bucket_encryption(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    rule = (i.get("rules") or [{}])[0]
    return [
        rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm"),
        "bucket key" if rule.get("bucketKeyEnabled") else None,
    ]


def _aws_s3_bucket_public_access_block(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    blocked = [
        k for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets") if i.get(k)
    ]
    return [f"{len(blocked)}/4 public-access blocks"]


def _aws_s3_bucket_lifecycle_configuration(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [_lifecycle_summary(rule) for rule in i.get("rules", [])]


def _aws_s3_bucket_replication_config(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    rule = (i.get("rules") or [{}])[0]
    dest = rule.get("destination", {})
    return [
        f"-> {dest.get('bucket', '').split(':::')[-1]}",
        "RTC 15 min" if dest.get("replicationTime", {}).get("status") == "Enabled" else "no RTC",
        "metrics" if dest.get("metrics", {}).get("status") == "Enabled" else None,
        f"replica KMS {_region_of_arn(dest.get('encryptionConfiguration', {}).get('replicaKmsKeyId'))}",
        f"delete markers {rule.get('deleteMarkerReplication', {}).get('status', '?').lower()}",
    ]


def _aws_route53_health_check(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    if i.get("type") == "CALCULATED":
        return [
            f"CALCULATED: healthy when {i.get('childHealthThreshold')} of "
            f"{len(i.get('childHealthchecks', []))} children are"
        ]
    else:
        return [
            f"{i.get('type')} https://{i.get('fqdn')}{i.get('resourcePath')}",
            f"every {i.get('requestInterval')} s x {i.get('failureThreshold')}",
            _flag(i, "enableSni", "SNI"),
            f"match {i.get('searchString')}" if i.get("searchString") else None,
        ]


def _aws_route53_record(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    policy = (i.get("failoverRoutingPolicies") or [{}])[0].get("type")
    return [
        f"{i.get('type')} {i.get('name')}",
        f"TTL {i.get('ttl')}",
        policy,
        ("with health check" if i.get("healthCheckId") else "no health check") if policy else None,
    ]


def _aws_cloudwatch_metric_alarm(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [f"{i.get('namespace')} {i.get('metricName')} {_op(i.get('comparisonOperator'))} {i.get('threshold')}"]


def _aws_secretsmanager_secret(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    replicas = [r.get("region") for r in i.get("replicas", [])]
    return [i.get("name"), f"replicated to {', '.join(replicas)}" if replicas else "this region only"]


def _aws_secretsmanager_secret_version(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return ["value: [secret]", "failover-owned (ignore_changes)" if record.ignore_changes else None]


def _kubernetes_apps_deployment(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    spec = i.get("spec", {})
    container = spec.get("template", {}).get("spec", {}).get("containers", [{}])[0]
    return [f"replicas {spec.get('replicas')}", container.get("image")]


def _kubernetes_networking_k8s_io_ingress(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    rules = i.get("spec", {}).get("rules", [])
    return [", ".join(f"{r.get('host')}{p.get('path')}" for r in rules for p in r["http"]["paths"])]


def _pulumi_providers_aws(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [i.get("region")]


def _pulumi_providers_kubernetes(record: Recorded, i: dict[str, Any]) -> list[str | None]:
    return [f"context {i.get('context')}"]


#: One summary per resource type: the settings that matter for DR.
_SUMMARIES: dict[str, Callable[[Recorded, dict[str, Any]], list[str | None]]] = {
    "aws:rds/instance:Instance": _aws_rds_instance,
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication": _aws_rds_backup_replication,
    "aws:rds/parameterGroup:ParameterGroup": _aws_rds_parameter_group,
    "aws:kms/key:Key": _aws_kms_key,
    "aws:s3/bucket:Bucket": _aws_s3_bucket,
    "aws:s3/bucketVersioning:BucketVersioning": _aws_s3_bucket_versioning,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _aws_s3_bucket_encryption,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _aws_s3_bucket_public_access_block,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _aws_s3_bucket_lifecycle_configuration,
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": _aws_s3_bucket_replication_config,
    "aws:route53/healthCheck:HealthCheck": _aws_route53_health_check,
    "aws:route53/record:Record": _aws_route53_record,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _aws_cloudwatch_metric_alarm,
    "aws:secretsmanager/secret:Secret": _aws_secretsmanager_secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _aws_secretsmanager_secret_version,
    "kubernetes:apps/v1:Deployment": _kubernetes_apps_deployment,
    "kubernetes:networking.k8s.io/v1:Ingress": _kubernetes_networking_k8s_io_ingress,
    "pulumi:providers:aws": _pulumi_providers_aws,
    "pulumi:providers:kubernetes": _pulumi_providers_kubernetes,
}


def _settings(record: Recorded) -> str:
    """One line of the settings that matter for DR, per resource type."""
    i = _plain(record.inputs)
    summary = _SUMMARIES.get(record.typ)
    parts: list[str | None] = summary(record, i) if summary else []
    if record.protect:
        parts.append("protect")
    return ", ".join(str(p) for p in parts if p)


def _op(op: str | None) -> str:
    return {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}.get(op or "", op or "?")


def _region_of_arn(arn: str | None) -> str:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else "?"


def _lifecycle_summary(rule: dict) -> str:
    prefix = (rule.get("filter") or {}).get("prefix") or "*"
    if "expiration" in rule:
        return f"{prefix} {rule['expiration'].get('days')} d"
    if "abortIncompleteMultipartUpload" in rule:
        return f"abort multipart {rule['abortIncompleteMultipartUpload'].get('daysAfterInitiation')} d"
    if "noncurrentVersionExpiration" in rule:
        return f"noncurrent {rule['noncurrentVersionExpiration'].get('noncurrentDays')} d"
    return rule.get("id", "?")


def _resource_doc(record: Recorded) -> dict[str, Any]:
    return {
        "type": record.typ,
        "name": record.name,
        "region": record.region,
        "provider": record.provider_name,
        "parent": record.parent_urn.rsplit("::", 1)[-1],
        "protect": record.protect,
        "settings": _settings(record),
    }


def _render_tree(stack: str, path: Path, groups: dict[str, list[Recorded]], offline: OfflineRun) -> list[str]:
    lines = [
        f"idp-dr plan: stack {stack!r} from {path.name} (offline, under mocks: nothing was created)",
        f"{len(offline.recorder.all())} resources",
        "",
    ]
    for group, records in groups.items():
        lines.append(f"== {group} ==")
        if group == "components":
            for record in records:
                parent = record.parent_urn.rsplit("::", 1)[-1]
                lines.append(f"  {record.typ} {record.name}  (in {parent})")
            lines.append("")
            continue
        by_parent: dict[str, list[Recorded]] = defaultdict(list)
        for record in records:
            by_parent[record.parent_urn.rsplit("::", 1)[-1]].append(record)
        for parent, children in by_parent.items():
            if group != "providers":
                lines.append(f"  {parent}")
            for record in children:
                settings = _settings(record)
                lines.append(f"    {_short_type(record.typ)} {record.name}" + (f": {settings}" if settings else ""))
        lines.append("")
    return lines


# --------------------------------------------------------------------------- posture and policy
def _posture(cfg, offline: OfflineRun) -> dict[str, Any]:
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
            f"RDS automated backups -> {record.region} ({_plain(record.inputs.get('retentionPeriod'))} d, "
            f"KMS in {_region_of_arn(record.inputs.get('kmsKeyId'))})"
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


def _render_posture(posture: dict[str, Any]) -> list[str]:
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


def _policy_checks(report: Report, cfg, offline: OfflineRun, posture: dict[str, Any]) -> None:
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
        retention = _plain(i.get("backupRetentionPeriod") or 0)
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
    if cfg.database.mode == "rds":
        replications = rec.of_type("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication")
        ok = (
            len(replications) == 1
            and replications[0].region == cfg.dr_region
            and _region_of_arn(replications[0].inputs.get("kmsKeyId")) == cfg.dr_region
        )
        report.check(
            "rds.cross-region-backups",
            ok,
            f"automated backups replicated to {cfg.dr_region} with a key there"
            if ok
            else "automated backups are not replicated to the DR region with a DR-region key",
        )
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
    records = [r for r in rec.of_type("aws:route53/record:Record") if r.inputs.get("failoverRoutingPolicies")]
    ttls = {_plain(r.inputs.get("ttl")) for r in records}
    report.check(
        "dns.failover-pair",
        len(records) == 2 and max(ttls) <= 60,
        f"PRIMARY/SECONDARY records, TTL {', '.join(map(str, sorted(ttls)))} s",
        records=len(records),
    )
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
    if offline.recorder.calls:
        report.check("preview.no-invokes", False, f"the program invoked {offline.recorder.calls}")
