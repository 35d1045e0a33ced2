"""Make moto 5.2's RDS behave like AWS in three documented respects (sandbox and tests only).

1. ``promote_read_replica`` only flips an internal flag: the promoted instance still reports
   ``ReadReplicaSourceDBInstanceIdentifier`` and the primary still lists it as a replica. On
   AWS a promoted instance is standalone (RDS user guide, "Promoting a read replica"), which is
   exactly what ``failover`` waits for.
2. ``restore_db_instance_to_point_in_time`` applies overrides with ``if value:``, so an explicit
   ``DeletionProtection=False`` / ``PubliclyAccessible=False`` / ``MultiAZ=False`` is ignored and
   the source's value is kept; it also marks the restored instance as a read replica of the
   source. AWS honours the explicit values and a restored instance is not a replica.
3. every instance reports the same ``DbiResourceId``. On AWS it is unique per instance and never
   changes, not even on a rename, which is how ``recover`` tells the restored instance from the
   damaged one while it swaps their names.
4. renaming an instance leaves its read replicas naming the old identifier as their source, so after
   ``recover``'s swap the DR replica would seem to follow the restored instance. On AWS a replica keeps
   replicating the instance it was created from, under its new name.
5. ``create_db_instance_read_replica`` makes the replica a shallow copy of its source: the same
   ``DbiResourceId``, the same tag list and list of replicas (a tag added to one shows on the other). On AWS
   a replica is another instance with its own resource ID, tags and replicas, and replicates no backups.

Nothing here is imported by the runbook commands themselves; ``scripts.sandbox.moto_server`` (the
sandbox) and the tests apply it, and say so.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

_APPLIED = False

#: Restore parameters whose explicit False moto drops, mapped to moto's attribute names.
_FALSY_OVERRIDES = {
    "deletion_protection": "deletion_protection",
    "publicly_accessible": "publicly_accessible",
    "multi_az": "multi_az",
    "copy_tags_to_snapshot": "copy_tags_to_snapshot",
    "enable_iam_database_authentication": "enable_iam_database_authentication",
    "auto_minor_version_upgrade": "auto_minor_version_upgrade",
}


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    from moto.rds import models

    original_promote = models.RDSBackend.promote_read_replica
    original_restore = models.RDSBackend.restore_db_instance_to_point_in_time

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        source = database.source_db_instance_identifier
        result = original_promote(self, db_kwargs)
        if source:
            _forget_replica(source, database)
        database.source_db_instance_identifier = None
        return result

    def restore_db_instance_to_point_in_time(
        self: Any, source_db_identifier: str, target_db_identifier: str, overrides: dict[str, Any]
    ) -> Any:
        instance = original_restore(self, source_db_identifier, target_db_identifier, overrides)
        for param, attribute in _FALSY_OVERRIDES.items():
            if overrides.get(param) is False:
                setattr(instance, attribute, False)
        instance.source_db_instance_identifier = None
        instance.is_replica = False
        return instance

    original_init = models.DBInstance.__init__

    def init_with_own_resource_id(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.dbi_resource_id = "db-" + uuid.uuid4().hex[:26].upper()

    original_modify = models.RDSBackend.modify_db_instance

    def modify_db_instance(self: Any, db_instance_identifier: str, db_kwargs: dict[str, Any]) -> Any:
        database = self.describe_db_instances(db_instance_identifier)[0]
        old = (database.db_instance_arn, database.db_instance_identifier)
        result = original_modify(self, db_instance_identifier, db_kwargs)
        if (result.db_instance_arn, result.db_instance_identifier) != old:
            _follow_rename(old, result)
        return result

    original_replica = models.RDSBackend.create_db_instance_read_replica

    def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        replica = original_replica(self, db_kwargs)
        replica.dbi_resource_id = "db-" + uuid.uuid4().hex[:26].upper()
        replica.replicas = []
        replica.tags = [dict(tag) for tag in (getattr(replica, "tags", None) or [])]
        replica.__dict__.pop(REPLICATED_TO, None)
        return replica

    models.DBInstance.__init__ = init_with_own_resource_id
    models.RDSBackend.modify_db_instance = modify_db_instance
    models.RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica
    models.RDSBackend.promote_read_replica = promote_read_replica
    models.RDSBackend.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time
    _APPLIED = True


def _forget_replica(source: str, replica: Any) -> None:
    from moto.rds.models import rds_backends

    for account in list(rds_backends.keys()):
        for backend in _created_backends(rds_backends[account]):
            for db in backend.databases.values():
                if db is replica:
                    continue
                if source in (db.db_instance_arn, db.db_instance_identifier):
                    for name in (replica.db_instance_arn, replica.db_instance_identifier):
                        if name in db.replicas:
                            db.replicas.remove(name)


def _follow_rename(old: tuple[str, str], renamed: Any) -> None:
    """Replicas of a renamed instance name it by its new ARN (and the instance lists them unchanged)."""
    for db in _all_databases():
        if db.source_db_instance_identifier in old:
            arn_named = db.source_db_instance_identifier == old[0]
            db.source_db_instance_identifier = renamed.db_instance_arn if arn_named else renamed.db_instance_identifier


def _all_databases() -> list[Any]:
    from moto.rds.models import rds_backends

    return [
        db
        for account in list(rds_backends.keys())
        for backend in _created_backends(rds_backends[account])
        for db in list(backend.databases.values())
    ]


def _created_backends(per_account: Any) -> list[Any]:
    # dict.values: only the regions already in use (indexing would create every region's backend).
    return list(dict.values(per_account))


#: The sandbox's replicated automated backups are named after their source: ``ab-`` plus its DbiResourceId
#: (lowercase, without ``db-``). On AWS the ID is opaque; here it is how a restore finds its source.
def replicated_backups_id(dbi_resource_id: str) -> str:
    return "ab-" + dbi_resource_id.removeprefix("db-").lower()


#: How far the replicated backups' newest restorable point trails now (AWS: a few minutes).
REPLICATION_LAG_S = 300


def apply_replicated_backups() -> Callable[[], None]:
    """SIMULATED (sandbox and tests): moto 5.2 has no cross-region replicated automated backups. Answer
    ``Start``/``StopDBInstanceAutomatedBackupsReplication`` by recording, on the source instance, the region its
    backups replicate to; ``DescribeDBInstanceAutomatedBackups`` for a replicated-backups ARN named by
    :func:`replicated_backups_id` (status ``replicating`` while its source replicates to the calling region,
    else ``retained``), for a source's ``DbiResourceId`` and for the whole region (the sources replicating
    there; its restore window: the source's creation to five minutes ago), and restore from it as
    ``RestoreDBInstanceToPointInTime`` would: a new instance in the calling region with the source's engine,
    version, storage and master user, and the request's identifier, groups, tags and settings. No data moves.
    Returns the function that removes these answers again (tests)."""
    from moto.core.responses import ActionResult
    from moto.rds.responses import RDSResponse

    original_describe = RDSResponse.describe_db_instance_automated_backups
    original_restore = RDSResponse.restore_db_instance_to_point_in_time

    def describe_db_instance_automated_backups(self: Any) -> Any:
        arn, resource_id = self.params.get("DBInstanceAutomatedBackupsArn"), self.params.get("DbiResourceId")
        source = _replicated_source(arn)
        if source is not None:
            return ActionResult({"DBInstanceAutomatedBackups": [_backup_doc(str(arn), source, self.region)]})
        if arn:
            return original_describe(self)
        replicating = [
            db for db in _all_databases()
            if getattr(db, REPLICATED_TO, None) == self.region and resource_id in (None, db.dbi_resource_id)
        ]  # fmt: skip
        docs = [_backup_doc(_arn_of(self, db), db, self.region) for db in replicating]
        if resource_id is not None:
            return ActionResult({"DBInstanceAutomatedBackups": docs})
        return ActionResult({"DBInstanceAutomatedBackups": docs + _listed(original_describe(self))})

    def restore_db_instance_to_point_in_time(self: Any) -> Any:
        source = _replicated_source(self.params.get("SourceDBInstanceAutomatedBackupsArn"))
        if source is None:
            return original_restore(self)
        p = self.params
        kwargs = {
            "DBInstanceIdentifier": p["TargetDBInstanceIdentifier"],
            "Engine": source.engine,
            "EngineVersion": source.engine_version,
            "DBInstanceClass": p.get("DBInstanceClass") or source.db_instance_class,
            "AllocatedStorage": source.allocated_storage,
            "MasterUsername": source.master_username,
            "ManageMasterUserPassword": True,
            "StorageEncrypted": True,
            "KmsKeyId": _backup_key(str(p["SourceDBInstanceAutomatedBackupsArn"])),
            "BackupRetentionPeriod": 1,
            **{k: p[k] for k in _RESTORE_COPIED if k in p},
        }
        # moto reads its parameters case-insensitively (its XFormedDict): hand them over the same way.
        return ActionResult({"DBInstance": self.backend.create_db_instance(type(p)(kwargs))})

    start, stop = _replication_answers()
    originals = {
        name: getattr(RDSResponse, name, None)
        for name in (
            "start_db_instance_automated_backups_replication",
            "stop_db_instance_automated_backups_replication",
        )
    }
    RDSResponse.describe_db_instance_automated_backups = describe_db_instance_automated_backups
    RDSResponse.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time
    RDSResponse.start_db_instance_automated_backups_replication = start
    RDSResponse.stop_db_instance_automated_backups_replication = stop

    def undo() -> None:
        RDSResponse.describe_db_instance_automated_backups = original_describe
        RDSResponse.restore_db_instance_to_point_in_time = original_restore
        for name, original in originals.items():
            setattr(RDSResponse, name, original)

    return undo


_RESTORE_COPIED = (
    "DBSubnetGroupName",
    "VpcSecurityGroupIds",
    "DBParameterGroupName",
    "Tags",
    "DeletionProtection",
    "MultiAZ",
    "PubliclyAccessible",
    "Port",
    "MasterUserSecretKmsKeyId",
    "StorageType",
    "CopyTagsToSnapshot",
)


def _replicated_source(arn: Any) -> Any:
    if not isinstance(arn, str) or ":auto-backup:ab-" not in arn:
        return None
    from moto.rds.models import rds_backends

    wanted = arn.rsplit(":", 1)[-1]
    for account in list(rds_backends.keys()):
        for backend in _created_backends(rds_backends[account]):
            for db in backend.databases.values():
                if replicated_backups_id(db.dbi_resource_id) == wanted:
                    return db
    return None


def _replication_answers() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Start/StopDBInstanceAutomatedBackupsReplication, recorded on the source instance (SIMULATED)."""
    from moto.core.responses import ActionResult

    def start_db_instance_automated_backups_replication(self: Any) -> Any:
        arn = self.params.get("SourceDBInstanceArn")
        found = [db for db in _all_databases() if db.db_instance_arn == arn]
        if not found:
            return _rds_error("DBInstanceNotFound", f"DBInstance {arn} not found.")
        setattr(found[0], REPLICATED_TO, self.region)
        return ActionResult({"DBInstanceAutomatedBackup": {"DBInstanceArn": arn, "Status": "pending"}})

    def stop_db_instance_automated_backups_replication(self: Any) -> Any:
        arn = self.params.get("SourceDBInstanceArn")
        for db in _all_databases():
            if db.db_instance_arn == arn and getattr(db, REPLICATED_TO, None) == self.region:
                setattr(db, REPLICATED_TO, None)
        return ActionResult({"DBInstanceAutomatedBackup": {"DBInstanceArn": arn, "Status": "retained"}})

    return start_db_instance_automated_backups_replication, stop_db_instance_automated_backups_replication


#: The attribute of a moto DBInstance naming the region its backups replicate to (SIMULATED).
REPLICATED_TO = "idp_dr_backups_replicated_to"


def _arn_of(response: Any, source: Any) -> str:
    return f"arn:aws:rds:{response.region}:{response.current_account}:auto-backup:" + replicated_backups_id(
        source.dbi_resource_id
    )


def _listed(result: Any) -> list[Any]:
    """The automated backups moto itself answered (its ActionResult's data), for a listing of the region."""
    data = getattr(result, "result", None)
    return list(data.get("DBInstanceAutomatedBackups") or []) if isinstance(data, dict) else []


def _rds_error(code: str, message: str) -> Any:
    from moto.rds.exceptions import RDSClientError

    raise RDSClientError(code, message)


def _backup_doc(arn: str, source: Any, region: str) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "DBInstanceAutomatedBackupsArn": arn,
        "DBInstanceArn": source.db_instance_arn,
        "DbiResourceId": source.dbi_resource_id,
        "Region": source.region,
        "DBInstanceIdentifier": source.db_instance_identifier,
        "RestoreWindow": {
            "EarliestTime": now - timedelta(days=1),
            "LatestTime": now - timedelta(seconds=REPLICATION_LAG_S),
        },
        "AllocatedStorage": source.allocated_storage,
        "Status": "replicating" if getattr(source, REPLICATED_TO, None) == region else "retained",
        "Port": 5432,
        "Engine": source.engine,
        "EngineVersion": source.engine_version,
        "Encrypted": True,
        "KmsKeyId": _backup_key(arn),
        "BackupRetentionPeriod": 7,
    }


def _backup_key(arn: str) -> str:
    """The (simulated) DR-region key the replicated backups, and so their restores, are encrypted with."""
    return arn.split(":auto-backup:")[0].replace(":rds:", ":kms:") + ":key/replicated-backups"


def apply_replica_lag() -> Callable[[], None]:
    """SIMULATED (the sandbox): moto publishes no RDS metrics. Answer ``GetMetricStatistics`` for ``AWS/RDS
    ReplicaLag`` of an existing read replica with one datapoint of 0 s at the query's end, as CloudWatch shows a
    replica that has caught up (``reprotect`` waits for it; ``failback`` waits for it after writes stop). No data
    moves between the sandbox's instances: the lag is always 0. Returns the function that removes the answer."""
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    original = CloudWatchResponse.get_metric_statistics

    def get_metric_statistics(self: Any) -> Any:
        if self._get_param("Namespace") != "AWS/RDS" or self._get_param("MetricName") != "ReplicaLag":
            return original(self)
        wanted = {d.get("Value") for d in self._get_param("Dimensions", []) if d.get("Name") == "DBInstanceIdentifier"}
        replicas = [
            db for db in _all_databases() if db.db_instance_identifier in wanted and db.source_db_instance_identifier
        ]
        if not replicas:
            return original(self)
        point = {"Timestamp": self._get_param("EndTime"), "Maximum": 0.0, "Unit": "Seconds"}
        return ActionResult({"Label": "ReplicaLag", "Datapoints": [point]})

    CloudWatchResponse.get_metric_statistics = get_metric_statistics

    def undo() -> None:
        CloudWatchResponse.get_metric_statistics = original

    return undo
