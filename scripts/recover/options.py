"""What ``recover`` is asked, and the names one incident gives its instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# The tags naming an incident on the instances it keeps: one place for every command.
from scripts.lifecycle.replica import TAG_INCIDENT, TAG_ROLE
from scripts.restore.rds.request import DEFAULT_POLL_S

__all__ = ["METHODS", "STEPS", "TAG_INCIDENT", "TAG_ROLE", "Names", "RecoverOptions"]

#: The steps, in order. Each is journalled: a re-run skips the finished ones.
STEPS = ("restore", "stop", "cut-over", "start", "verify", "follow", "reprotect")
METHODS = ("swap", "repoint")


@dataclass
class RecoverOptions:
    #: None: the latest restorable time.
    time: datetime | None
    time_text: str | None = None
    method: str = "swap"
    yes: bool = False
    force: bool = False
    reason: str | None = None
    dry_run: bool = False
    state_dir: Path | None = None
    expect_realms: list[str] = field(default_factory=list)
    poll_interval: float = DEFAULT_POLL_S
    #: The RDS restore and each rename (seconds).
    timeout_s: float = 120 * 60.0
    k8s_timeout_s: float = 600.0
    validate_timeout_s: float = 600.0
    probe_scheme: str = "https"
    #: Where this machine reaches the primary IdP's JWKS and token endpoints (a port-forward): verify's
    #: base URL, and without --baseline where preflight takes a baseline of the site as it is now.
    primary_base_url: str | None = None
    quiet: bool = False


@dataclass(frozen=True)
class Names:
    """``<id>-recover-<stamp>`` is restored, then (swap) renamed to ``<id>``; the damaged instance
    becomes ``<id>-damaged-<stamp>``. RDS identifiers are at most 63 characters."""

    original: str
    restored: str
    damaged: str
    incident: str

    @classmethod
    def for_incident(cls, original: str, started: datetime) -> Names:
        stamp = started.strftime("%Y%m%d%H%M%S") + f"{started.microsecond // 1000:03d}"  # two runs never share one
        keep = 63 - len("-recover-") - len(stamp)
        base = original[:keep].rstrip("-")
        return cls(original, f"{base}-recover-{stamp}", f"{base}-damaged-{stamp}", f"rc-{started:%Y%m%dT%H%M%SZ}")
