"""``drill --aws``'s options: where the baseline comes from, how the drill IdP is reached, how long each wait is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: How this process reaches the drill IdP: ``port-forward`` (kubectl, from a laptop or CI runner), or
#: ``service`` (its cluster DNS name: the drill CronJob runs in the drill namespace). ``auto``: ``service``
#: inside a cluster (KUBERNETES_SERVICE_HOST set), else ``port-forward``.
REACH = ("auto", "port-forward", "service")

#: The phases of a drill on AWS, in order (each a report step and a bar on the timeline). The RTO is the
#: sum of restore, start and verify: what a failover by restore spends before the IdP is proven.
PHASES = ("preflight", "leftovers", "restore", "start", "verify", "measure", "metrics", "cleanup", "record")
RTO_PHASES = ("restore", "start", "verify")


@dataclass(frozen=True)
class AwsDrillOptions:
    #: ``latest`` (the newest in the DR bucket), ``s3://…`` or a file.
    baseline: str = "latest"
    #: Leave the drill's instance and IdP running for inspection; the report prints the cleanup command.
    keep: bool = False
    #: Only remove what earlier drills left behind.
    cleanup_only: bool = False
    reach: str = "auto"
    #: The verifier client's Secrets Manager secret (default: the stack's ``standby.verifierSecret``).
    verifier_secret: str | None = None
    restore_timeout_s: float = 7200.0
    k8s_timeout_s: float = 900.0
    cleanup_timeout_s: float = 1800.0
    poll_interval: float = 15.0
    http_timeout_s: float = 10.0
    #: CloudWatch namespace and Stack dimension of the drill's metrics (None: none published).
    metric_namespace: str | None = None
    metric_stack: str | None = None
    #: Declared objectives (default: the stack's rtoTargetSeconds / rpoTargetSeconds).
    rto_target_s: float | None = None
    rpo_target_s: float | None = None
    report_dir: Path = Path("reports")
    quiet: bool = False
