"""A failover incident on the runbook's journal (:mod:`scripts.runstate`): its steps and runs are the journal's,
what it decided is an :class:`Incident`, typed, pinned in the journal (``pinned.incident``).

One journal per DNS record (``<state-dir>/state.json``, else the DR bucket): ``failover`` writes it, ``failback``
closes it. A closed incident (failed back) is kept as ``state-<closed>.json`` when the next failover starts.
Nothing is written before the failover is confirmed (the journal is *held*): a dry run, or a run refused at the
confirmation, declares nothing.

Incidents written by idp-dr before the journal (``state.json`` format version 1) are read and upgraded, so an
incident left open across an upgrade resumes (:func:`upgrade_v1`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from contract.outputs import StackOutputs
from contract.runbook import RUNBOOK_PREFIX
from scripts.errors import InputError
from scripts.polling import Clock
from scripts.runstate import Journal, write_timeline
from scripts.runstate.journal import JOURNAL_VERSION
from scripts.runstate.store import Holder, LocalStore, S3Store, StateStore
from scripts.timeutil import format_duration, iso, parse_iso

COMMAND = "failover"

STEPS = (
    "detect",
    "preflight",
    # --planned only: the primary site's IdP stopped (and, promoting, the replica drained) before the database moves
    "stop-primary",
    "database",
    "point-standby",
    "scale-standby",
    "validate",
    "cut-traffic",
    "reprotect",
)


@dataclass
class FailoverDatabase:
    """The database the failover brought up in the DR region (promoted or restored)."""

    instance_id: str
    arn: str
    host: str
    port: int
    dbname: str
    region: str
    engine_version: str | None = None


@dataclass
class Incident:
    """What a failover decided and did, and how its failback ended: the facts later runs and commands read."""

    incident_id: str
    mode: str
    record: str
    declared_at: str | None = None
    #: "--declared-at" or "the first change (confirmed)".
    declared_by: str | None = None
    detected_at: str | None = None
    #: Failed over a primary that looked healthy (--force), and why.
    forced: bool = False
    reason: str | None = None
    planned: bool = False
    #: The replicated backups a restore reads (pinned: a resumed run restores the same), as DrSource.to_dict().
    dr_source: dict[str, Any] | None = None
    #: The data loss the failover accepted, as preflight measured it.
    would_accept: dict[str, Any] | None = None
    db: FailoverDatabase | None = None
    rpo: dict[str, Any] | None = None
    #: When traffic was cut: the failover is done (the incident stays open until failback).
    completed_at: str | None = None
    failed_back_at: str | None = None
    failback: dict[str, Any] | None = None
    lock_takeovers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def parse(cls, raw: Any, path: str) -> Incident:
        """The pinned incident, checked field by field: a crafted or damaged journal is refused, never guessed."""
        hint = f"move {path} aside to start a new incident (it stays there for the record)"
        allowed = "a failover journal whose pinned.incident holds the incident's fields"
        if not isinstance(raw, dict):
            raise InputError("--state-dir", path, f"{allowed}; it holds {type(raw).__name__}", hint=hint)
        wrong = [f.name for f in fields(cls) if not _typed(f.name, raw.get(f.name, _DEFAULTS.get(f.name)))]
        if wrong:
            raise InputError("--state-dir", path, f"{allowed}; missing or mistyped: {', '.join(wrong)}", hint=hint)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        if values.get("db") is not None:
            values["db"] = FailoverDatabase(**values["db"])
        return cls(**values)


#: An optional field left out of a journal is its default; a required one (no default) is missing.
_DEFAULTS = {k: v for k, v in asdict(Incident("", "", "")).items() if k not in ("incident_id", "mode", "record")}
_STR = (str,)
_OPT_STR = (str, type(None))
_OPT_DICT = (dict, type(None))
_KINDS: dict[str, tuple[type, ...]] = {
    "incident_id": _STR, "mode": _STR, "record": _STR, "declared_at": _OPT_STR, "declared_by": _OPT_STR,
    "detected_at": _OPT_STR, "forced": (bool,), "reason": _OPT_STR, "planned": (bool,), "dr_source": _OPT_DICT,
    "would_accept": _OPT_DICT, "db": _OPT_DICT, "rpo": _OPT_DICT, "completed_at": _OPT_STR,
    "failed_back_at": _OPT_STR, "failback": _OPT_DICT, "lock_takeovers": (list,),
}  # fmt: skip
_DB_KINDS: dict[str, tuple[type, ...]] = {
    "instance_id": _STR, "arn": _STR, "host": _STR, "port": (int,), "dbname": _STR, "region": _STR,
    "engine_version": _OPT_STR,
}  # fmt: skip


def _typed(name: str, value: Any) -> bool:
    if not isinstance(value, _KINDS[name]) or (isinstance(value, bool) and bool not in _KINDS[name]):
        return False
    if name == "db" and value is not None:
        return set(value) <= set(_DB_KINDS) and all(
            isinstance(value.get(k), kinds) and not isinstance(value.get(k), bool) for k, kinds in _DB_KINDS.items()
        )
    return True


def default_state_dir(outputs: StackOutputs) -> Path:
    """Stable per record, so a re-run (from the same directory) finds the interrupted failover."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", outputs.dns.recordName.rstrip("."))
    return Path(".idp-dr") / "failover" / safe


def open_store(state_dir: Path | None, outputs: StackOutputs, aws: Any) -> StateStore:
    """``--state-dir`` when given; else the DR bucket, where any operator's run can find it."""
    if state_dir is not None:
        return LocalStore(state_dir)
    local = default_state_dir(outputs)
    return S3Store(aws, outputs.archive.drBucket, outputs.drRegion, f"{RUNBOOK_PREFIX}{local.name}/", local_dir=local)


class IncidentLog:
    """The incident's journal and its typed facts, saved together."""

    def __init__(self, journal: Journal, incident: Incident):
        self.journal = journal
        self.incident = incident

    @classmethod
    def open(
        cls, state_dir: Path | None, outputs: StackOutputs, aws: Any, *, mode: str, clock: Clock, as_run: bool = True
    ) -> IncidentLog:
        """The open incident of the record (``--state-dir``, else the DR bucket), or a new one, held until
        declared. ``as_run=False``: failback's view, which reads and closes it without counting a failover run."""
        store = open_store(state_dir, outputs, aws)
        record = outputs.dns.recordName
        journal = Journal.open(
            store, command=COMMAND, subject=record, upgrade=upgrade_v1, as_run=as_run, clock=clock.now
        )
        raw = journal.pinned.get("incident")
        if raw is None:
            incident = Incident("fo-" + clock.now().strftime("%Y%m%dT%H%M%SZ"), mode, record)
        else:
            incident = Incident.parse(raw, journal.location)
        journal.held = incident.declared_at is None and incident.failback is None
        return cls(journal, incident)

    @property
    def store(self) -> StateStore:
        assert self.journal.store is not None
        return self.journal.store

    @property
    def location(self) -> str:
        return self.journal.location

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.journal.data["steps"]

    def done(self, name: str) -> bool:
        return self.journal.done(name)

    def save(self) -> None:
        self.journal.pinned["incident"] = self.incident.to_dict()
        self.journal.save()

    def close(self, result: str) -> None:
        """Failed back: the incident is over (the next failover starts a new one and keeps this one's file)."""
        self.journal.pinned["incident"] = self.incident.to_dict()
        self.journal.held = False
        self.journal.data["completed_at"] = self.incident.failed_back_at
        self.journal.data["closed_by"] = result
        self.journal.save()

    @contextmanager
    def locked(
        self, command: str, now: datetime, *, force: bool, reason: str | None, hold: bool = True
    ) -> Iterator[None]:
        """Hold the incident for this run (refused while another run holds it), and let go after.
        ``hold=False`` (a dry run) takes no lock."""
        if hold:
            takeover = self.store.acquire(Holder.me(command, iso(now)), force=force, reason=reason)
            if takeover:
                self.incident.lock_takeovers.append(takeover)
        try:
            yield
        finally:
            self.store.release()

    def write_timeline(self, outputs: StackOutputs, kube_description: str) -> tuple[Path, Path]:
        """``timeline.json`` (the journal) and the post-mortem skeleton with the measured RTO, beside the state."""
        self.journal.pinned["incident"] = self.incident.to_dict()
        return write_timeline(
            self.journal,
            self.store.local_dir,
            title=f"failover of {self.incident.record} ({self.incident.incident_id})",
            facts=incident_facts(self.incident, outputs, kube_description),
            impact=["TODO: who could not log in, for how long; sessions lost at the recovery site"],
            actions=[
                "Reprotect: idp-dr reprotect --stack-outputs <file> --yes (a caught-up copy in the primary region)",
                "Fail back: idp-dr failback --stack-outputs <file> --yes",
            ],
        )


def incident_facts(i: Incident, outputs: StackOutputs, kube_description: str) -> list[str]:
    declared, cut = parse_iso(i.declared_at), parse_iso(i.completed_at)
    rto = format_duration((cut - declared).total_seconds()) if declared and cut else "n/a"
    facts = [
        f"Mode: **{i.mode}**{' (planned)' if i.planned else ''}; declared {i.declared_at or 'n/a'}"
        f" ({i.declared_by or 'not declared'}); traffic cut {i.completed_at or 'not yet'}",
        f"Measured RTO (declared → traffic cut): **{rto}** (target {format_duration(outputs.rto_target_s)}; "
        "add DNS TTL and resolver caching for users)",
        f"RPO evidence: {i.rpo} (target {format_duration(outputs.rpo_target_s)}); accepted before: {i.would_accept}",
        f"New database: {i.db.host if i.db else 'n/a'}",
        f"Forced over a healthy-looking primary: {'yes' if i.forced else 'no'}"
        + (f" — reason: {i.reason}" if i.reason else ""),
        f"Kubernetes: {kube_description}",
    ]
    if i.failback:
        fb = i.failback
        facts.append(f"Failback: {fb.get('started_at')} → {fb.get('ended_at') or '…'}: {fb.get('result')}")
        if fb.get("overridden"):
            facts.append(f"Failback pre-checks overridden with --force ({fb.get('reason')}): {fb['overridden']}")
    return facts


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A ``state.json`` of format version 1 (idp-dr's own step engine, before the journal) as a journal: its steps,
    runs and facts carried over, so the incident it holds resumes where it stopped. Anything else is returned as
    it is (the journal's shape check names what is wrong with it)."""
    if (
        data.get("version") != 1
        or not isinstance(data.get("incident_id"), str)
        or not isinstance(data.get("steps"), dict)
    ):
        return data
    steps = {}
    for name, s in data["steps"].items():
        if not isinstance(s, dict):
            return data
        status = "deferred" if s.get("status") == "skipped-deferred" else s.get("status")
        steps[name] = {
            "first_started_at": s.get("first_started_at") or s.get("started_at"),
            "attempts": int(s.get("attempts") or 1),
            "status": status,
            "ended_at": s.get("ended_at"),
            "error": s.get("error"),
            "detail": s.get("detail") or {},
        }
    incident = {f.name: data[f.name] for f in fields(Incident) if f.name in data}
    return {
        "version": JOURNAL_VERSION,
        "command": COMMAND,
        "subject": data.get("record"),
        "tool_version": data.get("tool_version"),
        "upgraded_from": "state.json format 1",
        "started_at": data.get("started_at"),
        "completed_at": data.get("failed_back_at"),
        "pinned": {"incident": incident},
        "steps": steps,
        "runs": data.get("runs"),
    }
