"""``recover``'s last step: the DR read replica rebuilt from the restored primary, and the topology recorded.

A read replica is bound to the *instance* it was created from, not to its name: after ``swap`` the stack's
DR replica still replicates the damaged instance, so a failover by promotion would bring the damaged data
back. This step, idempotent and resumable (each part checks what AWS already holds):

1. reads the replica and its source by ``DbiResourceId``; when it already replicates the serving primary
   (a re-run, or a stack whose replica was rebuilt by hand) there is nothing to do;
2. renames it ``<replica>-stale-<stamp>`` and tags it with the incident (kept, like the damaged primary, until
   someone deletes it: the report says how);
3. creates ``<replica>`` again, a cross-region read replica of the serving primary with the stale one's
   settings (class, storage, key, groups, retention, tags), under the identifier the program expects, so
   ``pulumi refresh``/``up`` reads it as the same resource and replaces nothing;
4. waits until it is available and replicating the serving primary.

With ``repoint`` the stack does not own the serving instance yet: the step is refused with the commands
that move the stack first. Every run that gets this far writes the topology record
(:mod:`scripts.lifecycle.record`), which ``drill``, ``failover`` and ``check dr-paths`` read.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import error_code, error_message
from scripts.aws.rds import describe_instance, rename_and_wait
from scripts.errors import ExternalError
from scripts.lifecycle.protection import read_replica_source
from scripts.lifecycle.record import PrimaryRecord, TopologyRecord, read_record, topology_store, write_record
from scripts.polling import Verdict, poll_until
from scripts.recover.options import TAG_INCIDENT, TAG_ROLE
from scripts.timeutil import iso

#: The replica's settings copied from the stale replica to the rebuilt one (CreateDBInstanceReadReplica names).
_COPIED = {
    "DBInstanceClass": "DBInstanceClass",
    "StorageType": "StorageType",
    "MultiAZ": "MultiAZ",
    "PubliclyAccessible": "PubliclyAccessible",
    "DeletionProtection": "DeletionProtection",
    "CopyTagsToSnapshot": "CopyTagsToSnapshot",
    "AutoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
}


class Reprotect:
    def reprotect(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"topology_record": self._record_topology()}
        replica_id = self.out.database.drReplicaInstanceId
        if not replica_id:
            return {**detail, "dr_replica": "the stack has no DR read replica"}
        if self.journal.pinned["method"] != "swap":
            self.todo.append(
                f"the DR read replica {replica_id} still replicates {self.names.original}; once the stack owns "
                f"{self.names.restored} (the imports above), recreate it with 'pulumi up --target-replace <URN of "
                f"{replica_id}>'"
            )
            return {**detail, "dr_replica": "left: the stack does not own the serving instance yet"}
        return {**detail, "dr_replica": self._rebuild_replica(replica_id)}

    def _record_topology(self) -> str:
        """The serving primary, by DbiResourceId, in the DR bucket: what the next command's inputs are."""
        name = self.names.original if self.journal.pinned["method"] == "swap" else self.names.restored
        serving = describe_instance(self.aws, self.out.primaryRegion, name)
        if serving is None:
            raise ExternalError(f"the serving primary cannot be read in {self.out.primaryRegion}")
        store = topology_store(self.out, self.aws)
        record = read_record(store) or TopologyRecord(PrimaryRecord("", "", ""))
        record.primary = PrimaryRecord(
            self.out.primaryRegion, str(serving["DBInstanceIdentifier"]), str(serving["DbiResourceId"])
        )
        what = f"{self.names.incident}: {name} ({record.primary.resource_id}) serves, restored to "
        record.changed(iso(self.clock.now()), "recover", what + str(self.journal.pinned.get("restored_to")))
        write_record(store, record)
        return store.location

    def _rebuild_replica(self, replica_id: str) -> dict[str, Any]:
        out, pinned = self.out, self.journal.pinned
        serving = describe_instance(self.aws, out.primaryRegion, self.names.original) or {}
        replica, source, _why = read_replica_source(self.aws, out)
        if replica is not None and source is not None and source.resource_id == serving.get("DbiResourceId"):
            rebuilt = pinned.get("replica_rid") is not None
            return {"instance": replica_id, "replicates": source.describe(), "rebuilt": rebuilt}
        if replica is not None and replica.source is None:
            self.todo.append(
                f"the DR replica {replica_id} is standalone (promoted): it protects nothing and was left alone; "
                f"recreate it from the new primary with 'pulumi up --target-replace <URN of {replica_id}>' once it "
                "is no longer needed"
            )
            return {"instance": replica_id, "left": "standalone (promoted): not a replica of anything"}
        stale = f"{replica_id[: 63 - len('-stale-') - 17]}-stale-{self.names.damaged.rsplit('-', 1)[-1]}"
        if replica is not None and replica.resource_id != pinned.get("replica_rid"):
            pinned["stale_replica_rid"] = replica.resource_id
            self.journal.save()
        if pinned.get("stale_replica_rid") and describe_instance(self.aws, out.drRegion, stale) is None:
            self._rename_dr(pinned["stale_replica_rid"], replica_id, stale)
        kept = describe_instance(self.aws, out.drRegion, stale)
        if kept is None:
            raise ExternalError(f"the stale replica {stale} cannot be read in {out.drRegion}")
        self._tag_dr(kept, "stale-replica")
        if describe_instance(self.aws, out.drRegion, replica_id) is None:
            self._create_replica(replica_id, serving, kept)
        rebuilt = self._wait_replica(replica_id, str(serving.get("DbiResourceId")))
        pinned["replica_rid"] = rebuilt.get("DbiResourceId")
        self.todo.append(
            f"the stale DR replica {stale} still replicates the damaged instance: delete it once its forensics are "
            f"done: aws rds modify-db-instance --region {out.drRegion} --db-instance-identifier {stale} "
            "--no-deletion-protection --apply-immediately, then aws rds delete-db-instance --region "
            f"{out.drRegion} --db-instance-identifier {stale} --skip-final-snapshot"
        )
        self.report.check(
            "reprotect.dr_replica",
            True,
            f"{replica_id} replicates {self.names.original} (the restored instance) again; the stale replica is kept "
            f"as {stale}",
        )
        return {"instance": replica_id, "replicates": self.names.original, "stale": stale, "rebuilt": True}

    def _rename_dr(self, rid: str, old: str, new: str) -> None:
        rds = self.aws.client("rds", self.out.drRegion)

        def call(old: str, new: str) -> None:
            try:
                self.aws.call(
                    rds,
                    "ModifyDBInstance",
                    DBInstanceIdentifier=old,
                    NewDBInstanceIdentifier=new,
                    ApplyImmediately=True,
                )
            except ClientError as exc:
                raise ExternalError(
                    f"the rename of the DR replica {old} to {new} failed: {error_code(exc)}: {error_message(exc)}",
                    hint="the restored primary serves and is verified; fix the cause and re-run recover to finish "
                    "re-protecting it (it resumes here)",
                ) from None

        rename_and_wait(
            self.aws,
            self.out.drRegion,
            rid,
            old,
            new,
            call_rename=call,
            clock=self.clock,
            interval=self.o.poll_interval,
            timeout=self.o.timeout_s,
            on_update=self.progress.update,
        )

    def _tag_dr(self, instance: dict[str, Any], role: str) -> None:
        tags = [{"Key": TAG_INCIDENT, "Value": self.names.incident}, {"Key": TAG_ROLE, "Value": role}]
        rds = self.aws.client("rds", self.out.drRegion)
        self.aws.call(rds, "AddTagsToResource", ResourceName=instance["DBInstanceArn"], Tags=tags)

    def _create_replica(self, replica_id: str, serving: dict[str, Any], stale: dict[str, Any]) -> None:
        out = self.out
        groups = [g["VpcSecurityGroupId"] for g in stale.get("VpcSecurityGroups", [])]
        parameter_group = (stale.get("DBParameterGroups") or [{}])[0].get("DBParameterGroupName")
        params: dict[str, Any] = {
            "DBInstanceIdentifier": replica_id,
            "SourceDBInstanceIdentifier": serving["DBInstanceArn"],
            "SourceRegion": out.primaryRegion,
            "KmsKeyId": out.database.drKmsKeyArn,
            "DBSubnetGroupName": (stale.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
            or out.database.drSubnetGroupName,
            "VpcSecurityGroupIds": groups or list(out.database.drSecurityGroupIds),
            "DBParameterGroupName": parameter_group or out.database.drParameterGroupName,
            # The program's tags, not the incident's (the stale replica carries those now).
            "Tags": [t for t in stale.get("TagList", []) if t["Key"] not in (TAG_INCIDENT, TAG_ROLE)],
            **{name: stale[key] for key, name in _COPIED.items() if key in stale},
        }
        try:
            self.aws.call(self.aws.client("rds", out.drRegion), "CreateDBInstanceReadReplica", **params)
        except ClientError as exc:
            raise ExternalError(
                f"creating the DR read replica {replica_id} of {self.names.original} failed: {error_code(exc)}: "
                f"{error_message(exc)}",
                hint="the restored primary serves and is verified; fix the cause and re-run recover (it resumes "
                "here), or recreate the replica with 'pulumi up'",
            ) from None

    def _wait_replica(self, replica_id: str, serving_rid: str) -> dict[str, Any]:
        def judge(pair: tuple[Any, Any]) -> Verdict[Any]:
            replica, source = pair
            status = replica.status if replica else "not there yet"
            if source is not None and source.resource_id != serving_rid:
                return Verdict("failed", f"{replica_id} replicates {source.describe()}, not {serving_rid}", pair)
            done = replica is not None and status == "available" and source is not None
            return Verdict("done" if done else "wait", f"{replica_id}: {status}", pair)

        (replica, _source), _polls = poll_until(
            lambda: read_replica_source(self.aws, self.out)[:2],
            judge,
            interval=self.o.poll_interval,
            timeout=self.o.timeout_s,
            clock=self.clock,
            what=f"the DR read replica {replica_id}",
            on_update=self.progress.update,
            timeout_hint="creating a replica takes minutes to hours; re-run recover to keep waiting (it resumes here)",
            on_failed=lambda v: ExternalError(v.message),
        )
        return {"DbiResourceId": replica.resource_id, "DBInstanceIdentifier": replica.identifier}
