"""Facts about drills on AWS both sides use: names, tags, labels, the namespace and the metrics.

The Pulumi program creates the drill namespace, its NetworkPolicies, the drill CronJob, its IAM role
(which may touch only resources carrying these names and tags) and the alarms on these metrics;
``drill --aws`` creates, finds and deletes its resources by exactly these names, tags and labels.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

#: Every drill DB instance (and its security group) is named under this prefix; nothing else may be.
DRILL_PREFIX: Final[str] = "idp-dr-drill-"
#: The tag ``restore rds`` puts on what it restores (``drill`` | ``restore``); the drill role's
#: conditions require ``drill`` on every instance and security group it modifies or deletes.
TAG_KIND: Final[str] = "idp-dr:restore-kind"
KIND_DRILL: Final[str] = "drill"
#: The drill's security group carries the drill target's name.
TAG_DRILL_TARGET: Final[str] = "idp-dr:drill-target"

#: The isolated namespace of the DR cluster where a drill starts the IdP: ``<standby namespace>-drill``.
DRILL_NAMESPACE_SUFFIX: Final[str] = "-drill"
#: Labels on every Kubernetes object a drill creates (it deletes exactly the objects carrying them).
LABEL_MANAGED_BY: Final[str] = "app.kubernetes.io/managed-by"
MANAGED_BY_DRILL: Final[str] = "idp-dr-drill"
LABEL_DRILL_ID: Final[str] = "idp-dr/drill"
#: The Service a drill puts in front of the drill IdP (in the drill namespace only).
DRILL_SERVICE: Final[str] = "idp-dr-drill"

#: ``drill --aws --metric-namespace`` publishes, dimension ``Stack``: ``DrillSucceeded`` (1 or 0) after
#: every drill, ``DrillRtoSeconds`` and ``DrillRpoSeconds`` when measured, and ``DrillPhaseSeconds`` per
#: phase (dimensions ``Stack``, ``Phase``). The program's alarms watch the first two.
DRILL_METRIC_NAMESPACE: Final[str] = "IdpDr/Drills"
DRILL_SUCCEEDED_METRIC: Final[str] = "DrillSucceeded"
DRILL_RTO_METRIC: Final[str] = "DrillRtoSeconds"
DRILL_RPO_METRIC: Final[str] = "DrillRpoSeconds"
DRILL_PHASE_METRIC: Final[str] = "DrillPhaseSeconds"


def drill_name(started: datetime) -> str:
    return DRILL_PREFIX + started.strftime(DRILL_STAMP)


def drill_started(name: str) -> datetime | None:
    """When the drill of that name started (None: not a name this tool gives)."""
    try:
        return datetime.strptime(name.removeprefix(DRILL_PREFIX), DRILL_STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def record_key(started: datetime) -> str:
    return DRILL_RECORD_PREFIX + started.strftime(RECORD_STAMP) + ".json"


def drill_namespace(standby_namespace: str) -> str:
    """The drill namespace of a standby namespace (Kubernetes names are at most 63 characters)."""
    return f"{standby_namespace[: 63 - len(DRILL_NAMESPACE_SUFFIX)]}{DRILL_NAMESPACE_SUFFIX}"


#: Every drill records its outcome in the DR bucket as ``<prefix><UTC time>.json`` ({"drill", "started_at",
#: "succeeded", "rto_s", "rpo_s", "error"}); ``check dr-paths`` reads the newest for the alarms below.
DRILL_RECORD_PREFIX: Final[str] = "idp-dr/drills/"
#: A drill's name carries its start (UTC): ``idp-dr-drill-<yyyymmdd-hhmmss>``; its record is
#: ``<prefix><yyyymmddThhmmssZ>.json``. A drill without a record has not finished (or its runner died).
DRILL_STAMP: Final[str] = "%Y%m%d-%H%M%S"
RECORD_STAMP: Final[str] = "%Y%m%dT%H%M%SZ"
#: Published hourly by ``check dr-paths`` (namespace ``IdpDr/DrPaths``, dimension ``Stack``): days since the
#: newest successful drill (since the DR bucket was created when there was none), whether the newest drill
#: succeeded (1/0), and the newest successful drill's RTO. CloudWatch evaluates at most 7 days of data, so an
#: alarm on "no success in 100 days" needs this age as a metric of its own.
DRILL_AGE_METRIC: Final[str] = "DaysSinceSuccessfulDrill"
LAST_DRILL_SUCCEEDED_METRIC: Final[str] = "LastDrillSucceeded"
LAST_DRILL_RTO_METRIC: Final[str] = "LastDrillRtoSeconds"


def pod_references(pod: dict[str, Any]) -> dict[str, set[str]]:
    """The Secrets and ConfigMaps a pod spec reads (env, envFrom, volumes, image pull secrets): what a drill
    copies into the drill namespace, and so exactly what the drill's Role may read in the standby's."""
    found: dict[str, set[str]] = {"secret": set(), "configmap": set()}

    def note(ref: dict[str, Any], pairs: tuple[tuple[str, str, str], ...]) -> None:
        for key, kind, name_field in pairs:
            if key in ref:
                found[kind].add(ref[key][name_field])

    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for env in container.get("env", []):
            note(
                env.get("valueFrom") or {},
                (("secretKeyRef", "secret", "name"), ("configMapKeyRef", "configmap", "name")),
            )
        for env_from in container.get("envFrom", []):
            note(env_from, (("secretRef", "secret", "name"), ("configMapRef", "configmap", "name")))
    for volume in pod.get("volumes", []):
        note(volume, (("secret", "secret", "secretName"), ("configMap", "configmap", "name")))
        for projected in (volume.get("projected") or {}).get("sources", []):
            note(projected, (("secret", "secret", "name"), ("configMap", "configmap", "name")))
    found["secret"] |= {ref["name"] for ref in pod.get("imagePullSecrets", [])}
    return found
