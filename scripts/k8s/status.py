"""What the runbook reads of a Deployment: its counts, why it cannot roll out, and the pods still left.

A Deployment's ``status`` counts only *active* pods: one being deleted (``deletionTimestamp`` set, still in
its grace period, its IdP still holding database connections) is no longer in ``readyReplicas``. So
"scaled to 0" is not "no pod left": :attr:`DeploymentStatus.terminating` holds the pods the Deployment's
selector still matches, which ``scale_and_wait`` waits out before a database is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeploymentStatus:
    name: str
    replicas: int
    ready: int
    updated: int
    available: int
    generation: int
    observed_generation: int
    images: list[str] = field(default_factory=list)
    #: Why it cannot roll out, as its controller says (a missing ServiceAccount, a quota; a stalled rollout).
    failure: str | None = None
    #: Pods the selector still matches while the Deployment is at 0 (terminating; read only when scaled to 0).
    terminating: list[str] = field(default_factory=list)

    def rolled_out(self, want: int) -> bool:
        return (
            self.replicas >= want
            and self.observed_generation >= self.generation
            and self.updated >= want
            and self.ready >= want
            and self.available >= want
        )

    def stopped(self) -> bool:
        """At 0 with no pod left: nothing of this Deployment can still reach its database."""
        return self.replicas == 0 and self.ready == 0 and not self.terminating

    def to_dict(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "ready": self.ready,
            "updated": self.updated,
            "available": self.available,
            "images": self.images,
            **({"failure": self.failure} if self.failure else {}),
            **({"terminating": self.terminating} if self.terminating else {}),
        }


def rollout_failure(conditions: list[dict[str, Any]]) -> str | None:
    """What stops a rollout for good, from the Deployment's conditions (None: nothing, or only not yet)."""
    for c in conditions:
        if c.get("type") == "ReplicaFailure" and c.get("status") == "True":
            return f"{c.get('reason')}: {c.get('message')}"
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            return f"ProgressDeadlineExceeded: {c.get('message')}"
    return None


def selector_of(deployment: dict[str, Any]) -> str:
    """The Deployment's ``matchLabels`` as a label selector (``k=v,k=v``); '' when it has none."""
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
