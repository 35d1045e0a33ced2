"""``recover``'s cut-over: the restored instance takes the damaged one's place.

A mixin of :class:`scripts.recover.recover.Recover`.

``swap`` (the default): rename the damaged instance to ``<id>-damaged-<stamp>``, then the restored one
to ``<id>``. The endpoint (``<id>.<hash>.<region>.rds.amazonaws.com``), every client's configuration,
the alarms (they name the identifier) and the Pulumi resource's ID stay valid. A rename takes minutes
and, while it runs, neither name may resolve: each rename waits until the new name answers, available,
with the instance it expects (matched by DbiResourceId, which no rename changes), so an interrupted
cut-over resumes wherever it stopped. The damaged instance is only renamed and tagged: it stays for
forensics, deletion protection and all.

``repoint``: the restored instance keeps its name; the primary site's endpoint secret is written and the
External Secrets sync forced until the Kubernetes Secret shows it (the IdP is at 0 replicas, so it
starts on it). Pulumi still owns the damaged instance as the primary: ``follow`` says what to run.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import error_code, error_message
from scripts.aws.rds import describe_instance, rename_and_wait
from scripts.errors import ExternalError
from scripts.k8s.site import point_at
from scripts.recover.options import TAG_INCIDENT, TAG_ROLE


class CutOver:
    def cut_over(self) -> dict[str, Any]:
        return self._swap() if self.journal.pinned["method"] == "swap" else self._repoint()

    def _swap(self) -> dict[str, Any]:
        pinned, names = self.journal.pinned, self.names
        self._rename(pinned["damaged_rid"], names.original, names.damaged)
        self._tag(names.damaged, "damaged")
        self._rename(pinned["restored_rid"], names.restored, names.original)
        serving = describe_instance(self.aws, self.out.primaryRegion, names.original) or {}
        pinned["serving_arn"] = serving.get("DBInstanceArn")
        return {
            "serving": names.original,
            "endpoint": (serving.get("Endpoint") or {}).get("Address"),
            "damaged": names.damaged,
        }

    def _rename(self, rid: str, old: str, new: str) -> None:
        """``old`` -> ``new`` for the instance ``rid`` in the primary region (:func:`rename_and_wait`)."""
        rename_and_wait(
            self.aws, self.out.primaryRegion, rid, old, new, call_rename=self._call_rename, clock=self.clock,
            interval=self.o.poll_interval, timeout=self.o.timeout_s, on_update=self.progress.update,
        )  # fmt: skip

    def _call_rename(self, old: str, new: str) -> None:
        rds = self.aws.client("rds", self.out.primaryRegion)
        try:
            self.aws.call(
                rds, "ModifyDBInstance", DBInstanceIdentifier=old, NewDBInstanceIdentifier=new, ApplyImmediately=True
            )
        except ClientError as exc:
            names = self.names
            undo = ""
            if old == names.restored:  # the damaged instance is already out of the way: say how to undo it
                undo = (
                    f"; or put the damaged instance back: aws rds modify-db-instance --region "
                    f"{self.out.primaryRegion} --db-instance-identifier {names.damaged} "
                    f"--new-db-instance-identifier {names.original} --apply-immediately"
                )
            raise ExternalError(
                f"the rename of {old} to {new} failed: {error_code(exc)}: {error_message(exc)}",
                hint=f"no IdP runs meanwhile (the site is at 0); fix the cause and re-run to resume{undo}",
            ) from None

    def _tag(self, name: str, role: str) -> None:
        found = describe_instance(self.aws, self.out.primaryRegion, name) or {}
        rds = self.aws.client("rds", self.out.primaryRegion)
        tags = [{"Key": TAG_INCIDENT, "Value": self.names.incident}, {"Key": TAG_ROLE, "Value": role}]
        self.aws.call(rds, "AddTagsToResource", ResourceName=found["DBInstanceArn"], Tags=tags)

    def _repoint(self) -> dict[str, Any]:
        pinned = self.journal.pinned
        want = {"host": pinned["restored_endpoint"], "port": str(pinned["port"]), "dbname": self.out.database.dbName}
        return point_at(
            self._repoint_sink(),
            want,
            aws=self.aws,
            kube=self.kube,
            clock=self.clock,
            timeout=self.o.k8s_timeout_s,
            register_secret=self.report.register_secret,
            on_update=self.progress.update,
        )
