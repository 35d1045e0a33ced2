"""``recover``'s last step: the topology recorded for the next command, and the DR read replica rebuilt.

A mixin of :class:`scripts.recover.recover.Recover`. After ``swap`` the stack's DR replica still replicates the
damaged instance (a replica is bound to the instance, not its name), so a failover by promotion would bring the
damaged data back: :func:`scripts.lifecycle.replica.rebuild_dr_replica` renames it ``<replica>-stale-<stamp>``
(kept, tagged) and creates ``<replica>`` again from the restored primary. With ``repoint`` the stack does not own
the serving instance yet: the step says what to run first. Every run that gets this far writes the topology
record (:mod:`scripts.lifecycle.record`), which ``drill``, ``failover`` and ``check dr-paths`` read.
"""

from __future__ import annotations

from typing import Any

from scripts.aws.rds import describe_instance
from scripts.errors import ExternalError
from scripts.lifecycle.record import PrimaryRecord, TopologyRecord, read_record, topology_store, write_record
from scripts.lifecycle.replica import RebuildContext, rebuild_dr_replica
from scripts.timeutil import iso


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
        ctx = RebuildContext(
            aws=self.aws,
            out=self.out,
            serving_id=self.names.original,
            incident=self.names.incident,
            suffix="stale",
            stamp=self.names.damaged.rsplit("-", 1)[-1],
            clock=self.clock,
            interval=self.o.poll_interval,
            timeout=self.o.timeout_s,
            on_update=self.progress.update,
            pinned=self.journal.pinned,
            save=self.journal.save,
        )
        detail = rebuild_dr_replica(ctx)
        self.todo += ctx.todo
        if detail.get("rebuilt") and detail.get("kept"):
            self.report.check(
                "reprotect.dr_replica",
                True,
                f"{replica_id} replicates {self.names.original} (the restored instance) again; the stale replica "
                f"is kept as {detail['kept']}",
            )
        return detail
