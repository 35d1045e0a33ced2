"""The runbook's record of where the primary database is now, kept in the DR bucket.

The stack outputs are written by ``pulumi up``. A runbook command that changes the topology (``recover``'s
swap, ``failover``, ``failback``) makes some of them stale until the next ``pulumi up``: after a swap the
name ``database.primaryInstanceId`` serves another instance (another ``DbiResourceId``), whose replicated
backups have another ARN; after a failover the primary is in the DR region. Every command that restores
from replicated backups or checks the DR paths needs the truth, also while the primary region is down and
cannot be asked. So each topology-changing command writes this record when it changes the topology, and
the others read it (:mod:`scripts.aws.protection` reads AWS first and this record when AWS cannot answer).

    s3://<drBucket>/idp-dr/runbook/topology/state.json

It names the instance that serves as primary by region, identifier and ``DbiResourceId`` (which never
changes, not even on a rename), when a failover put the primary in the DR region, and when protection
was re-established after it. It holds no secret. Writes are conditional, like the incidents' state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contract.outputs import StackOutputs
from contract.runbook import TOPOLOGY_RECORD_PREFIX
from scripts.errors import InputError
from scripts.runstate.store import STATE, S3Store, StateStore

VERSION = 1
PREFIX = TOPOLOGY_RECORD_PREFIX
#: How many changes the record keeps (the newest last); older ones are in the incidents' timelines.
HISTORY = 50


@dataclass(frozen=True)
class PrimaryRecord:
    region: str
    instance_id: str
    resource_id: str


@dataclass
class TopologyRecord:
    primary: PrimaryRecord
    #: Set by failover when the primary moved to the DR region; cleared by failback.
    failed_over_at: str | None = None
    #: Set by reprotect when a copy in the primary region has caught up with the failed-over primary.
    reprotected_at: str | None = None
    #: That copy (a cross-region read replica of the failed-over primary): what failback promotes.
    failback_copy: PrimaryRecord | None = None
    history: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self)}

    @property
    def failed_over(self) -> bool:
        return self.failed_over_at is not None

    def changed(self, at: str, command: str, what: str) -> None:
        self.history = [*self.history, {"at": at, "command": command, "what": what}][-HISTORY:]


def topology_store(outputs: StackOutputs, aws: Any) -> StateStore:
    return S3Store(aws, outputs.archive.drBucket, outputs.drRegion, PREFIX, local_dir=Path(".idp-dr") / "topology")


def read_record(store: StateStore) -> TopologyRecord | None:
    """The record, or None when no command has changed the topology yet (the stack outputs are true)."""
    found = store.read_state()
    if found is None:
        return None
    return parse_record(found[0], store.location + STATE)


def write_record(store: StateStore, record: TopologyRecord) -> None:
    store.write_state(record.to_dict())


def parse_record(body: bytes, where: str) -> TopologyRecord:
    """The record, checked field by field (it steers restores: a damaged one is refused, never guessed)."""
    allowed = f"a topology record written by idp-dr (version {VERSION})"
    hint = f"move {where} aside: the next recover, failover or failback writes a new one"
    if len(body) > 1 << 20:
        raise InputError("topology record", where, f"{allowed} of at most 1 MiB; it has {len(body)} bytes", hint=hint)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError("topology record", where, f"{allowed}; this one is not JSON", hint=hint) from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise InputError("topology record", where, f"{allowed}; this one is not", hint=hint)
    primary, copy = data.get("primary"), data.get("failback_copy")
    keys = ("region", "instance_id", "resource_id")
    for name, value in (("primary", primary), ("failback_copy", copy)):
        if (value is not None or name == "primary") and not _instance(value, keys):
            raise InputError("topology record", where, f"{allowed}; its {name} lacks {', '.join(keys)}", hint=hint)
    optional = {k: data.get(k) for k in ("failed_over_at", "reprotected_at")}
    if any(v is not None and not isinstance(v, str) for v in optional.values()):
        raise InputError("topology record", where, f"{allowed}; its times are not text", hint=hint)
    history = data.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise InputError("topology record", where, f"{allowed}; its history is not a list of changes", hint=hint)
    return TopologyRecord(
        PrimaryRecord(**{k: primary[k] for k in keys}),
        failed_over_at=optional["failed_over_at"],
        reprotected_at=optional["reprotected_at"],
        failback_copy=PrimaryRecord(**{k: copy[k] for k in keys}) if copy else None,
        history=[{str(k): str(v) for k, v in h.items()} for h in history][-HISTORY:],
    )


def _instance(value: Any, keys: tuple[str, ...]) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), str) and value[k] for k in keys)
