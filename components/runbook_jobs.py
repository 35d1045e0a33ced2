"""The runbook's scheduled jobs on the primary site, from the config: what each needs of the topology.

Each needs the runbook image (``runbook.image``), except the drill's namespace and role (``drill --aws`` by
hand); each can be turned off on its own.
"""

from __future__ import annotations

import pulumi

from components.archive import WalArchive
from components.config import StackConfig
from components.credentials import DatabaseAccess
from components.database import PitrDatabase
from components.notifications import Notifications
from components.standby.spec import BackupSpec, BaselineSpec, BootstrapSpec, ChecksSpec, DrillSpec


def backup_spec(cfg: StackConfig, archive: WalArchive, notifications: Notifications) -> BackupSpec | None:
    """The primary site's dump CronJob: with a runbook image and backups on (dumps go to its bucket)."""
    if cfg.runbook.image is None or not cfg.runbook.backup.enabled:
        return None
    return BackupSpec(
        image=cfg.runbook.image,
        schedule=cfg.runbook.backup.schedule,
        deadline_minutes=cfg.runbook.backup.deadline_minutes,
        stack=cfg.name,
        region=cfg.primary_region,
        bucket_name=archive.primary_bucket_name,
        key_arn=archive.primary_key_arn,
        alarm_topic_arn=notifications.primary_topic_arn,
    )


def baseline_spec(
    cfg: StackConfig, archive: WalArchive, access: DatabaseAccess, *, secrets_key_arn: pulumi.Input[str]
) -> BaselineSpec | None:
    """The primary site's weekly baseline: published to the DR bucket, where drills and failovers read it.
    ``secrets_key_arn``: the primary-region key of the stack's secrets (the verifier client's among them)."""
    if cfg.runbook.image is None or not cfg.runbook.baseline.enabled:
        return None
    return BaselineSpec(
        image=cfg.runbook.image,
        schedule=cfg.runbook.baseline.schedule,
        stack=cfg.name,
        primary_region=cfg.primary_region,
        dr_region=cfg.dr_region,
        scope=cfg.idp.realm if cfg.idp.kind == "keycloak" else str(cfg.idp.application_slug),
        dr_bucket_name=archive.dr_bucket_name,
        dr_key_arn=archive.dr_key_arn,
        verifier_secret_name=access.verifier_secret_name,
        verifier_secret_arn=access.verifier_secret_arn,
        verifier_key_arn=secrets_key_arn,
    )


def checks_spec(
    cfg: StackConfig, archive: WalArchive, access: DatabaseAccess, notifications: Notifications
) -> ChecksSpec | None:
    """The DR site's scheduled checks: the DR keys usable; rds mode: the replicated automated backups' age (and
    the drill records); self-managed: the primary's WAL archiving."""
    if cfg.runbook.image is None or not cfg.runbook.checks.enabled:
        return None
    rds = cfg.database.mode == "rds"
    return ChecksSpec(
        image=cfg.runbook.image,
        schedule=cfg.runbook.checks.schedule,
        stack=cfg.name,
        primary_region=cfg.primary_region,
        dr_region=cfg.dr_region,
        rpo_target_s=cfg.targets.rpo_seconds,
        rds=rds,
        dr_key_arn=archive.dr_key_arn,
        alarm_topic_arn=notifications.dr_topic_arn,
        drill_max_age_days=cfg.runbook.drill.max_days_without_success if rds and cfg.runbook.drill.enabled else None,
        # rds: the drill records and the topology record (what serves after recover, failover, failback).
        dr_bucket_name=archive.dr_bucket_name if rds else None,
        dr_bucket_key_arn=archive.dr_key_arn if rds else None,
        wal_archiver_credentials_arn=access.app_credentials_dr_arn if cfg.database.mode == "self-managed" else None,
    )


def drill_spec(
    cfg: StackConfig, database: PitrDatabase | None, archive: WalArchive, access: DatabaseAccess,
    notifications: Notifications,
) -> DrillSpec | None:  # fmt: skip
    """The DR site's drills: rds mode with runbook.drill.enabled; the CronJob also needs the runbook image."""
    drill = cfg.runbook.drill
    if database is None or not drill.enabled:
        return None
    return DrillSpec(
        stack=cfg.name,
        primary_region=cfg.primary_region,
        dr_region=cfg.dr_region,
        image=cfg.runbook.image,
        schedule=drill.schedule if drill.scheduled and cfg.runbook.image else None,
        deadline_minutes=drill.deadline_minutes,
        max_days_without_success=drill.max_days_without_success,
        rto_target_s=cfg.targets.rto_seconds,
        replicated_backups_arn=database.replicated_backups_arn,
        db_key_arn=database.dr_key_arn,
        dr_bucket_name=archive.dr_bucket_name,
        dr_bucket_key_arn=archive.dr_key_arn,
        verifier_secret_arn=access.verifier_secret_dr_arn,
        verifier_key_arn=database.dr_key_arn,
        alarm_topic_arn=notifications.dr_topic_arn,
    )


def bootstrap_spec(
    cfg: StackConfig, database: PitrDatabase | None, access: DatabaseAccess, *, host: pulumi.Input[str],
    key_arn: pulumi.Input[str],
) -> BootstrapSpec | None:  # fmt: skip
    """The primary site's bootstrap Job: with a runbook image, in rds mode with the master password managed
    by RDS (its secret is what the Job logs in with; otherwise run 'bootstrap db --admin-dsn' by hand)."""
    if database is None or cfg.runbook.image is None or not cfg.database.manage_master_password:
        return None
    return BootstrapSpec(
        image=cfg.runbook.image,
        region=cfg.primary_region,
        host=host,
        dbname=cfg.db_name,
        master_secret_arn=database.master_secret_arn.apply(lambda arn: arn or ""),
        app_credentials_name=access.app_credentials_name,
        app_credentials_arn=access.app_credentials_arn,
        kms_key_arns=(key_arn,),
    )
