"""Every setting AWS would otherwise default, with where its value came from; the restore request.

``RestoreDBInstanceToPointInTime`` falls back to the default VPC security group, subnet group and
parameter group, single-AZ and no deletion protection. :func:`choose_settings` copies each from
the source (or, from replicated backups in the DR region, from the backup record and the flags /
stack outputs) and records its origin; :func:`build_request` turns them into the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scripts import __version__
from scripts.aws.client import tags_dict
from scripts.errors import InputError
from scripts.restore.rds.request import (
    OUR_TAG_PREFIX,
    TAG_KIND,
    TAG_RESTORED_TO,
    TAG_SOURCE,
    TAG_TIME,
    TAG_VERSION,
    RestoreSpec,
    Setting,
    kind_of,
)
from scripts.timeutil import iso


@dataclass
class _Chooser:
    """Picks each setting from the flag, the source, the replicated backup or a DR-safe default."""

    spec: RestoreSpec
    region: str
    src: dict[str, Any]
    backup: dict[str, Any] | None
    notes: list[str]
    chosen: dict[str, Setting] = field(default_factory=dict)

    @property
    def from_backups(self) -> bool:
        return self.backup is not None

    @property
    def bk(self) -> dict[str, Any]:
        return self.backup or {}

    def pick(
        self,
        key: str,
        flag_value: Any,
        source_value: Any,
        *,
        backup_value: Any = None,
        default: Any = None,
        required_flag: str | None = None,
    ) -> None:
        if flag_value is not None:
            self.chosen[key] = Setting(flag_value, "flag")
        elif self.from_backups and required_flag is not None:
            raise InputError(
                required_flag,
                None,
                f"a {self.region} value when restoring from replicated backups (the source's is in another region)",
                hint=f"pass {required_flag}, or --stack-outputs with the stack's DR outputs",
            )
        elif source_value is not None:
            self.chosen[key] = Setting(source_value, "source")
        elif backup_value is not None:
            self.chosen[key] = Setting(backup_value, "replicated-backup")
        elif default is not None:
            self.chosen[key] = Setting(default, "default")
            self.notes.append(f"{key}: source not readable, using the DR-safe default {default!r}")


def choose_settings(
    spec: RestoreSpec,
    region: str,
    src: dict[str, Any] | None,
    backup: dict[str, Any] | None,
    notes: list[str],
) -> dict[str, Setting]:
    """Every setting AWS would otherwise default, with where its value came from."""
    chooser = _Chooser(spec, region, src or {}, backup, notes)
    _network(chooser)
    _option_group(chooser)
    _instance_and_storage(chooser)
    _behaviour(chooser)
    _master_secret(chooser)
    _encryption_and_tags(chooser)
    return chooser.chosen


def _network(c: _Chooser) -> None:
    """Network and parameters: in the DR region they must be DR resources (flags / stack outputs)."""
    src, spec = c.src, c.spec
    c.pick(
        "DBSubnetGroupName",
        spec.db_subnet_group,
        (src.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        required_flag="--db-subnet-group",
    )
    c.pick(
        "VpcSecurityGroupIds",
        spec.security_group_ids,
        [g["VpcSecurityGroupId"] for g in src.get("VpcSecurityGroups", [])] or None,
        required_flag="--vpc-security-group-ids",
    )
    params = src.get("DBParameterGroups") or []
    c.pick(
        "DBParameterGroupName",
        spec.db_parameter_group,
        params[0]["DBParameterGroupName"] if params else None,
        required_flag="--db-parameter-group",
    )


def _option_group(c: _Chooser) -> None:
    options = c.src.get("OptionGroupMemberships") or []
    src_option = options[0]["OptionGroupName"] if options else None
    if c.spec.option_group is not None:
        c.chosen["OptionGroupName"] = Setting(c.spec.option_group, "flag")
        return
    current = src_option or c.bk.get("OptionGroupName")
    if current and current.startswith("default:"):
        # The engine's default option group: AWS assigns exactly this one when the parameter is
        # omitted (and the name differs across regions/versions), so it is recorded, not sent.
        c.chosen["OptionGroupName"] = Setting(current, "default-group")
    elif current and c.from_backups:
        raise InputError(
            "--option-group",
            None,
            f"an option group in {c.region}: the source uses the custom option group "
            f"{current!r}, which does not exist there",
        )
    elif current:
        c.chosen["OptionGroupName"] = Setting(current, "source")


def _instance_and_storage(c: _Chooser) -> None:
    src, bk = c.src, c.bk
    c.pick("DBInstanceClass", c.spec.instance_class, src.get("DBInstanceClass"))
    if "DBInstanceClass" not in c.chosen:
        c.notes.append("DBInstanceClass: source not readable; AWS restores with the class recorded in the backup")
    c.pick("MultiAZ", c.spec.multi_az, src.get("MultiAZ"), default=True)
    c.pick("StorageType", None, src.get("StorageType"), backup_value=bk.get("StorageType"))
    storage = c.chosen.get("StorageType")
    allocated = int(src.get("AllocatedStorage") or bk.get("AllocatedStorage") or 0)
    # Provisioned IOPS/throughput: always for io1/io2. For gp3, RDS only accepts them at or above
    # the baseline threshold (400 GiB for PostgreSQL); below it the baseline is what AWS assigns.
    if storage and (storage.value in ("io1", "io2") or (storage.value == "gp3" and allocated >= 400)):
        c.pick("Iops", None, src.get("Iops"), backup_value=bk.get("Iops"))
        if storage.value == "gp3":
            c.pick("StorageThroughput", None, src.get("StorageThroughput"), backup_value=bk.get("StorageThroughput"))
    c.pick("MaxAllocatedStorage", None, src.get("MaxAllocatedStorage"))
    c.pick(
        "Port",
        None,
        (src.get("Endpoint") or {}).get("Port") or src.get("DbInstancePort") or None,
        backup_value=bk.get("Port"),
    )


def _behaviour(c: _Chooser) -> None:
    src, bk = c.src, c.bk
    c.pick(
        "EnableIAMDatabaseAuthentication",
        None,
        src.get("IAMDatabaseAuthenticationEnabled"),
        backup_value=bk.get("IAMDatabaseAuthenticationEnabled"),
    )
    if src.get("EnabledCloudwatchLogsExports"):
        c.chosen["EnableCloudwatchLogsExports"] = Setting(list(src["EnabledCloudwatchLogsExports"]), "source")
    c.pick("CopyTagsToSnapshot", None, src.get("CopyTagsToSnapshot"), default=True)
    c.pick("AutoMinorVersionUpgrade", None, src.get("AutoMinorVersionUpgrade"))
    c.pick("CACertificateIdentifier", None, src.get("CACertificateIdentifier"))
    c.pick(
        "BackupRetentionPeriod",
        None,
        src.get("BackupRetentionPeriod") or None,
        backup_value=bk.get("BackupRetentionPeriod"),
    )
    if c.spec.drill:
        c.chosen["DeletionProtection"] = Setting(False, "drill")
        c.chosen["PubliclyAccessible"] = Setting(False, "drill")
    else:
        c.pick("DeletionProtection", None, src.get("DeletionProtection"), default=True)
        c.pick("PubliclyAccessible", None, src.get("PubliclyAccessible"), default=False)


def _master_secret(c: _Chooser) -> None:
    """Managed master password: RDS creates a new secret for the restored instance; without these
    two parameters it would keep the snapshot's password, or encrypt with the default key."""
    secret = c.src.get("MasterUserSecret") or {}
    if c.spec.master_secret_kms_key is not None:
        c.chosen["ManageMasterUserPassword"] = Setting(True, "flag")
        c.chosen["MasterUserSecretKmsKeyId"] = Setting(c.spec.master_secret_kms_key, "flag")
    elif c.from_backups:
        raise InputError(
            "--master-secret-kms-key",
            None,
            f"a KMS key in {c.region} for the restored instance's master-user secret",
            hint="use the stack output database.drKmsKeyArn (or pass --stack-outputs)",
        )
    elif secret:
        c.chosen["ManageMasterUserPassword"] = Setting(True, "source")
        if secret.get("KmsKeyId"):
            c.chosen["MasterUserSecretKmsKeyId"] = Setting(secret["KmsKeyId"], "source")


def _encryption_and_tags(c: _Chooser) -> None:
    # Storage encryption is inherited from the backup: RestoreDBInstanceToPointInTime has no
    # KmsKeyId parameter. Recorded so the report (and the post-check) show the key.
    storage_kms = c.src.get("KmsKeyId") if not c.from_backups else c.bk.get("KmsKeyId")
    if storage_kms:
        c.chosen["StorageKmsKeyId"] = Setting(storage_kms, "inherited")
    # Tags: the source's own (not AWS-reserved, not a previous idp-dr restore's), plus ours.
    if c.src.get("TagList"):
        tag_list, tag_origin = c.src["TagList"], "source"
    else:
        tag_list, tag_origin = c.bk.get("TagList") or [], "replicated-backup"
    copied = {k: v for k, v in tags_dict(tag_list).items() if not k.startswith(("aws:", OUR_TAG_PREFIX))}
    c.chosen["Tags"] = Setting(copied, tag_origin)


def build_request(
    spec: RestoreSpec, target: str, settings: dict[str, Setting], latest_at_call: datetime | None
) -> dict[str, Any]:
    request: dict[str, Any] = {"TargetDBInstanceIdentifier": target}
    if spec.replicated_backups_arn:
        request["SourceDBInstanceAutomatedBackupsArn"] = spec.replicated_backups_arn
    else:
        request["SourceDBInstanceIdentifier"] = spec.source
    if spec.restore_time is None:
        request["UseLatestRestorableTime"] = True
    else:
        request["RestoreTime"] = spec.restore_time
    for key, setting in settings.items():
        if key in ("StorageKmsKeyId", "Tags") or setting.origin == "default-group":
            continue
        request[key] = setting.value
    tags: dict[str, str] = dict(settings["Tags"].value) if "Tags" in settings else {}
    tags.update({k: v for k, v in spec.extra_tags.items() if not k.startswith(OUR_TAG_PREFIX)})
    tags.update(
        {
            TAG_SOURCE: spec.source_tag,
            TAG_TIME: spec.time_tag,
            TAG_KIND: kind_of(spec),
            TAG_VERSION: __version__,
        }
    )
    restored_to = spec.restore_time or latest_at_call
    if restored_to is not None:
        tags[TAG_RESTORED_TO] = iso(restored_to) or ""
    request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return request
