"""Restore requests built from the stack outputs: one mapping, used by both sides.

* the ``restoreCommand`` stack output (``components.topology``) prints :func:`command_line` of
  :meth:`DrRestoreRequest.argv` (RDS) or :func:`wal_restore_argv` (self-managed);
* ``failover --mode restore`` builds its restore from :meth:`DrRestoreRequest.from_outputs`;
* ``restore rds --stack-outputs`` fills the DR network, parameters and key from the same place.

In the DR region a restore must use the DR network, parameter group and key, never the source's
(they live in the lost region) nor AWS's defaults.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from contract.outputs import DatabaseOutputs

#: How users run the runbook CLI in the printed commands.
CLI_PREFIX: tuple[str, ...] = ("python", "-m", "scripts")


@dataclass(frozen=True)
class DrRestoreRequest:
    """Restoring the primary's replicated automated backups into the DR region (RDS mode)."""

    region: str
    source: str | None
    replicated_backups_arn: str | None
    target: str | None
    db_subnet_group: str | None
    security_group_ids: tuple[str, ...]
    db_parameter_group: str | None
    #: The restored instance's managed master-user secret needs a key in the DR region.
    master_secret_kms_key: str | None

    @classmethod
    def from_outputs(cls, database: DatabaseOutputs, dr_region: str) -> DrRestoreRequest:
        return cls(
            region=dr_region,
            source=database.primaryInstanceId,
            replicated_backups_arn=database.replicatedBackupsArn,
            target=database.drRestoreInstanceId,
            db_subnet_group=database.drSubnetGroupName,
            security_group_ids=tuple(database.drSecurityGroupIds),
            db_parameter_group=database.drParameterGroupName,
            master_secret_kms_key=database.drKmsKeyArn,
        )

    def argv(self) -> list[str]:
        """``restore rds`` arguments restoring the latest restorable time (``restore rds --help``)."""
        return [
            "restore",
            "rds",
            "--region",
            self.region,
            "--source",
            str(self.source),
            "--from-replicated-backups",
            str(self.replicated_backups_arn),
            "--target",
            str(self.target),
            "--db-subnet-group",
            str(self.db_subnet_group),
            "--vpc-security-group-ids",
            ",".join(self.security_group_ids),
            "--db-parameter-group",
            str(self.db_parameter_group),
            # restore rds refuses --from-replicated-backups without it.
            "--master-secret-kms-key",
            str(self.master_secret_kms_key),
            "--latest",
        ]


def wal_restore_argv(dr_bucket: str, prefix: str, server_name: str, engine_major: int) -> list[str]:
    """``restore wal`` arguments restoring the DR bucket's archive to its newest WAL (self-managed)."""
    return [
        "restore",
        "wal",
        "--archive",
        f"s3://{dr_bucket}/{prefix}",
        "--server-name",
        server_name,
        "--latest",
        "--pgdata",
        f"/var/lib/postgresql/{engine_major}/restore",
    ]


def wal_archiver_argv(primary_bucket: str, prefix: str, server_name: str, engine_major: int) -> list[str]:
    """``bootstrap wal-archiver`` arguments for a self-managed primary's host: the archive-ahead
    ``archive_command`` shipping into the primary bucket (replication copies it to the DR bucket)."""
    return [
        "bootstrap",
        "wal-archiver",
        "--archive",
        f"s3://{primary_bucket}/{prefix}",
        "--server-name",
        server_name,
        "--pgdata",
        f"/var/lib/postgresql/{engine_major}/main",
    ]


def command_line(argv: Sequence[str]) -> str:
    """The runbook command as a user pastes it into a shell."""
    return shlex.join([*CLI_PREFIX, *argv])
