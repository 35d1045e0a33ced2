"""One line per resource: the settings that matter for DR, by resource type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scripts.offline import Recorded


def plain(value: Any) -> Any:
    """Pulumi's engine returns numbers as floats; show 14, not 14.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
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
    return [f"retention {i.get('retentionPeriod')} d", f"KMS {region_of_arn(i.get('kmsKeyId'))}"]


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
        f"replica KMS {region_of_arn(dest.get('encryptionConfiguration', {}).get('replicaKmsKeyId'))}",
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
    image = container.get("image") or ""
    pin = "pinned by digest" if "@sha256:" in image else "pinned by tag (a tag can be moved: prefer @sha256)"
    return [f"replicas {spec.get('replicas')}", image, pin]


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


def settings_line(record: Recorded) -> str:
    """One line of the settings that matter for DR, per resource type."""
    i = plain(record.inputs)
    summary = _SUMMARIES.get(record.typ)
    parts: list[str | None] = summary(record, i) if summary else []
    if record.protect:
        parts.append("protect")
    return ", ".join(str(p) for p in parts if p)


def _op(op: str | None) -> str:
    return {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}.get(op or "", op or "?")


def region_of_arn(arn: str | None) -> str:
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
