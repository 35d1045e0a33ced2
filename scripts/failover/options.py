"""A failover's options: what the command line (or the lifecycle drill) asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scripts.restore.rds.request import DEFAULT_POLL_S


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
