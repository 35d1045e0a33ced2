"""AWS-shaped responses for botocore's Stubber and the fault injector.

Shapes follow the RDS / Route 53 API reference (botocore 1.44 service models validate them when
used with Stubber). Used only where moto has no behaviour: time semantics (restore windows),
failed restores, replicated-backup restores and backup replication, failing health checks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
DR_KMS = f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
SRC_KMS = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
BACKUPS_ARN = f"arn:aws:rds:eu-central-1:{ACCOUNT}:auto-backup:ab-abcdefghijklmnopqrstuvwxyz0"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def instance(identifier: str, *, region: str = "eu-west-1", status: str = "available", **overrides: Any) -> dict:
    doc: dict[str, Any] = {
        "DBInstanceIdentifier": identifier,
        "DBInstanceArn": f"arn:aws:rds:{region}:{ACCOUNT}:db:{identifier}",
        "DBInstanceClass": "db.r6g.large",
        "Engine": "postgres",
        "EngineVersion": "16.4",
        "DBInstanceStatus": status,
        "DBName": "keycloak",
        "Endpoint": {"Address": f"{identifier}.abc123.{region}.rds.amazonaws.com", "Port": 5432},
        "InstanceCreateTime": t("2026-10-01T08:00:00Z"),
        "BackupRetentionPeriod": 7,
        "DBSubnetGroup": {"DBSubnetGroupName": "idp-db", "VpcId": "vpc-0123456789abcdef0"},
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
        "DBParameterGroups": [{"DBParameterGroupName": "idp-postgres16", "ParameterApplyStatus": "in-sync"}],
        "OptionGroupMemberships": [{"OptionGroupName": "default:postgres-16", "Status": "in-sync"}],
        "MultiAZ": True,
        "StorageType": "gp3",
        "Iops": 3000,
        "StorageThroughput": 125,
        "StorageEncrypted": True,
        "KmsKeyId": SRC_KMS,
        "DbiResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "DeletionProtection": True,
        "PubliclyAccessible": False,
        "CopyTagsToSnapshot": True,
        "IAMDatabaseAuthenticationEnabled": True,
        "AutoMinorVersionUpgrade": True,
        "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "MasterUserSecret": {
            "SecretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:rds!db-1-AbCdEf",
            "SecretStatus": "active",
            "KmsKeyId": SRC_KMS,
        },
        "TagList": [{"Key": "app", "Value": "keycloak"}, {"Key": "env", "Value": "prod"}],
        "LatestRestorableTime": t("2026-11-23T10:10:00Z"),
    }
    doc.update(overrides)
    return doc


def automated_backup(
    *,
    arn: str | None = None,
    region: str = "eu-west-1",
    source_region: str = "eu-west-1",
    earliest: str = "2026-11-16T10:00:00Z",
    latest: str = "2026-11-23T10:10:00Z",
    status: str = "active",
    **overrides: Any,
) -> dict:
    doc: dict[str, Any] = {
        "DBInstanceArn": f"arn:aws:rds:{source_region}:{ACCOUNT}:db:sso-db",
        "DbiResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "Region": source_region,
        "DBInstanceIdentifier": "sso-db",
        "RestoreWindow": {"EarliestTime": t(earliest), "LatestTime": t(latest)},
        "AllocatedStorage": 50,
        "Status": status,
        "Port": 5432,
        "Engine": "postgres",
        "EngineVersion": "16.4",
        "Encrypted": True,
        "StorageType": "gp3",
        "Iops": 3000,
        "StorageThroughput": 125,
        "KmsKeyId": SRC_KMS if arn is None else DR_KMS,
        "IAMDatabaseAuthenticationEnabled": True,
        "BackupRetentionPeriod": 7,
        "OptionGroupName": "default:postgres-16",
        "TagList": [{"Key": "app", "Value": "keycloak"}],
    }
    if arn:
        doc["DBInstanceAutomatedBackupsArn"] = arn
    doc.update(overrides)
    return doc


def not_found(kind: str = "DBInstanceNotFound", what: str = "x") -> dict:
    return {"service_error_code": kind, "service_message": f"{what} not found.", "http_status_code": 404}


def observations(healthy: int, total: int) -> dict:
    """GetHealthCheckStatus: ``healthy`` of ``total`` checkers report success."""
    obs = []
    for i in range(total):
        status = (
            "Success: HTTP Status Code 200, OK" if i < healthy else "Failure: HTTP Status Code 503, Service Unavailable"
        )
        obs.append(
            {
                "Region": "eu-west-1",
                "IPAddress": f"15.177.0.{i + 1}",
                "StatusReport": {"Status": status, "CheckedTime": t("2026-11-23T10:14:00Z")},
            }
        )
    return {"HealthCheckObservations": obs}
