"""A failover's options and its persisted, resumable state (``<state-dir>/state.json``)."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from contract.outputs import StackOutputs
from contract.runbook import RUNBOOK_PREFIX
from scripts import __version__
from scripts.errors import InputError
from scripts.restore.rds.request import DEFAULT_POLL_S
from scripts.runstate.store import STATE as STATE_FILE
from scripts.runstate.store import Holder, LocalStore, S3Store, StateStore
from scripts.timeutil import iso

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


STATE_VERSION = 1


@dataclass
class FailoverOptions:
    mode: str
    yes: bool = False
    force: bool = False
    reason: str | None = None
    dry_run: bool = False
    state_dir: Path | None = None
    kube_adapter: str = "kubectl"
    kube_context: str | None = None
    baseline: str | None = None
    #: With --baseline: the confidential client for the token checks (its secret is read from
    #: client_secret_file by run(), never kept here) and where the DR IdP's endpoints are reached.
    client_id: str | None = None
    client_secret_file: Path | None = None
    dr_base_url: str | None = None
    probe_scheme: str = "https"
    poll_interval: float = DEFAULT_POLL_S
    timeout_s: float = 120 * 60.0
    k8s_timeout_s: float = 600.0
    validate_timeout_s: float = 600.0
    dns_wait_s: float = 300.0
    reprotect: bool = True
    quiet: bool = False
    #: When the incident began (``--declared-at``): the RTO is measured from it; None: from the first change.
    declared_at: datetime | None = None
    #: A planned failover (a game day, an evacuation): the healthy primary is expected, and its writes are stopped
    #: first (the primary cluster through ``primary_kube_adapter``), so nothing written is lost.
    planned: bool = False
    primary_kube_adapter: str | None = None
    primary_kube_context: str | None = None


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


class State:
    def __init__(self, store: StateStore, data: dict[str, Any]):
        self.store = store
        self.data = data

    @property
    def location(self) -> str:
        return self.store.location + STATE_FILE

    @classmethod
    def open(cls, state_dir: Path | None, outputs: StackOutputs, aws: Any, *, mode: str, now: datetime) -> State:
        """The incident's state from its store (``--state-dir``, else the DR bucket)."""
        return cls.load_or_new(open_store(state_dir, outputs, aws), record=outputs.dns.recordName, mode=mode, now=now)

    @classmethod
    def load_or_new(cls, store: StateStore, *, record: str, mode: str, now: datetime) -> State:
        found = store.read_state()
        if found is not None:
            data = _read_state(found[0], store.location + STATE_FILE)
            if data.get("failed_back_at"):
                # A finished incident: keep it for the record, start a new one.
                store.archive_state((data.get("incident_id") or "previous").replace(":", ""))
            else:
                return cls(store, data)
        return cls(
            store,
            {
                "version": STATE_VERSION,
                "record": record,
                "mode": mode,
                "tool_version": __version__,
                "incident_id": "fo-" + now.strftime("%Y%m%dT%H%M%SZ"),
                "started_at": iso(now),
                "declared_at": None,
                "forced": False,
                "reason": None,
                "runs": [],
                "steps": {},
                "db": None,
                "completed_at": None,
                "failed_back_at": None,
            },
        )

    def save(self) -> None:
        self.store.write_state(self.data)

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return self.data["steps"]

    def done(self, name: str) -> bool:
        return self.steps.get(name, {}).get("status") == "ok"

    @contextmanager
    def locked(self, command: str, now: datetime, *, force: bool, reason: str | None, hold: bool = True):
        """Hold the incident for this run (refused while another run holds it), and let go after.
        ``hold=False`` (a dry run) takes no lock."""
        if hold:
            takeover = self.store.acquire(Holder.me(command, iso(now)), force=force, reason=reason)
            if takeover:
                self.data.setdefault("lock_takeovers", []).append(takeover)
        try:
            yield
        finally:
            self.store.release()


#: What a state file must hold to be resumed: key -> type.
_STATE_SHAPE: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "record": str,
    "mode": str,
    "incident_id": str,
    "started_at": str,
    "runs": list,
    "steps": dict,
}


def _read_state(body: bytes, path: str) -> dict[str, Any]:
    """The saved incident, checked for shape and format version before anything resumes from it."""
    hint = (
        f"this is not a state file this version of idp-dr wrote; move {path} aside to start a new "
        "incident (the old one stays there for the record)"
    )
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(
            "--state-dir", path, "a state.json written by failover or failback; this one is not JSON text", hint=hint
        ) from None
    allowed = f"a state.json written by failover or failback (format version {STATE_VERSION})"
    if not isinstance(data, dict):
        raise InputError("--state-dir", path, f"{allowed}; it holds {type(data).__name__}", hint=hint)
    wrong = [
        k for k, kind in _STATE_SHAPE.items() if not isinstance(data.get(k), kind) or isinstance(data.get(k), bool)
    ]
    if wrong:
        raise InputError("--state-dir", path, f"{allowed}; missing or mistyped: {', '.join(wrong)}", hint=hint)
    if data["version"] != STATE_VERSION:
        raise InputError("--state-dir", path, f"{allowed}; this one is version {data['version']}", hint=hint)
    return data
