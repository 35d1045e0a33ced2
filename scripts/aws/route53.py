"""Route 53: health status as Route 53 sees it, and sticky failover.

Semantics this module relies on (Route 53 developer guide, "How Route 53 determines whether a
health check is healthy" and the ResourceRecordSet API reference):

* an endpoint is healthy when **more than 18 %** of the health checkers report it healthy;
* ``GetHealthCheckStatus`` does not work for CALCULATED checks: their status is derived from the
  children, so we read each child's;
* a **Disabled** check is considered healthy, an **Inverted** one flips the result: neither may
  be used to make a primary "stay down";
* if a SECONDARY record has a health check and it is unhealthy, Route 53 answers with the
  PRIMARY regardless: a pilot-light standby therefore has no health check on its record.

Sticky failover (Keycloak's blueprint): point the primary's readiness check at a path that does
not exist (``failedOverPath``), so the primary stays unhealthy even if it comes back and traffic
cannot drift back to a stale site. ``failback`` restores ``healthPath``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import Aws, error_code, error_message
from scripts.errors import ExternalError
from scripts.polling import Clock, Verdict, poll_until

#: Route 53 is global; its API lives in us-east-1.
ROUTE53_REGION = "us-east-1"
HEALTHY_FRACTION = 0.18


@dataclass
class CheckStatus:
    health_check_id: str
    healthy: bool | None  # None: could not be determined
    checkers: int
    healthy_checkers: int
    detail: str
    children: list[CheckStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.health_check_id,
            "healthy": self.healthy,
            "checkers": self.checkers,
            "healthy_checkers": self.healthy_checkers,
            "detail": self.detail,
        }
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out


def route53(aws: Aws) -> Any:
    return aws.client("route53", ROUTE53_REGION)


def get_check(aws: Aws, check_id: str) -> dict[str, Any]:
    try:
        return aws.call(route53(aws), "GetHealthCheck", HealthCheckId=check_id)["HealthCheck"]
    except ClientError as exc:
        raise ExternalError(
            f"Route 53 health check {check_id}: {error_code(exc)}: {error_message(exc)}",
            hint="check the stack outputs (dns.*HealthCheckId) match this account",
        ) from None


def observed_status(aws: Aws, check_id: str) -> CheckStatus:
    """Health as Route 53's checkers report it (>18 % healthy = healthy)."""
    config = get_check(aws, check_id)["HealthCheckConfig"]
    if config.get("Type") == "CALCULATED":
        children = [observed_status(aws, child) for child in config.get("ChildHealthChecks", [])]
        healthy_children = sum(1 for c in children if c.healthy)
        threshold = int(config.get("HealthThreshold", len(children)))
        healthy: bool | None = healthy_children >= threshold
        if any(c.healthy is None for c in children):
            healthy = None if healthy_children < threshold else True
        if config.get("Inverted") and healthy is not None:
            healthy = not healthy
        return CheckStatus(
            check_id,
            healthy,
            len(children),
            healthy_children,
            f"calculated: {healthy_children}/{len(children)} children healthy, threshold {threshold}",
            children,
        )
    try:
        observations = aws.call(route53(aws), "GetHealthCheckStatus", HealthCheckId=check_id).get(
            "HealthCheckObservations", []
        )
    except ClientError as exc:
        return CheckStatus(check_id, None, 0, 0, f"status unavailable: {error_code(exc)}")
    total = len(observations)
    ok = sum(1 for o in observations if str((o.get("StatusReport") or {}).get("Status", "")).startswith("Success"))
    if total == 0:
        return CheckStatus(check_id, None, 0, 0, "no checker observations")
    healthy = ok / total > HEALTHY_FRACTION
    if config.get("Disabled"):
        healthy = True
    if config.get("Inverted"):
        healthy = not healthy
    last = next((str((o.get("StatusReport") or {}).get("Status", "")) for o in observations), "")
    return CheckStatus(check_id, healthy, total, ok, f"{ok}/{total} checkers healthy; e.g. {last[:80]}")


def sticky_problems(aws: Aws, readiness_id: str, record_check_id: str) -> list[str]:
    """Why changing ``readiness_id``'s path would NOT make the PRIMARY record unhealthy (empty = fine)."""
    problems: list[str] = []
    readiness = get_check(aws, readiness_id)["HealthCheckConfig"]
    if readiness.get("Type") not in ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH"):
        problems.append(
            f"{readiness_id} is a {readiness.get('Type')} check; sticky failover needs an HTTP(S) check "
            "whose path can be changed"
        )
    if readiness.get("Disabled"):
        problems.append(f"{readiness_id} is Disabled: Route 53 treats a disabled check as healthy")
    if readiness.get("Inverted"):
        problems.append(f"{readiness_id} is Inverted: a failing path would read as healthy")
    if record_check_id != readiness_id:
        record = get_check(aws, record_check_id)["HealthCheckConfig"]
        if record.get("Type") != "CALCULATED":
            problems.append(
                f"the PRIMARY record's check {record_check_id} is neither {readiness_id} nor a "
                "CALCULATED check containing it"
            )
        else:
            children = list(record.get("ChildHealthChecks", []))
            threshold = int(record.get("HealthThreshold", len(children)))
            if readiness_id not in children:
                problems.append(f"calculated check {record_check_id} does not contain {readiness_id}")
            elif threshold < len(children):
                problems.append(
                    f"calculated check {record_check_id} stays healthy with {threshold} of "
                    f"{len(children)} children: failing {readiness_id} alone would not fail it over"
                )
            if record.get("Inverted"):
                problems.append(f"calculated check {record_check_id} is Inverted")
            if record.get("Disabled"):
                problems.append(f"calculated check {record_check_id} is Disabled (always healthy)")
    return problems


def failover_records(aws: Aws, zone_id: str, name: str) -> dict[str, dict[str, Any]]:
    """The PRIMARY and SECONDARY records for ``name`` (keys 'PRIMARY', 'SECONDARY')."""
    fqdn = name.rstrip(".") + "."
    try:
        sets = aws.call(
            route53(aws), "ListResourceRecordSets", HostedZoneId=zone_id, StartRecordName=fqdn, MaxItems="20"
        )["ResourceRecordSets"]
    except ClientError as exc:
        raise ExternalError(f"listing records of zone {zone_id}: {error_code(exc)}: {error_message(exc)}") from None
    return {r["Failover"]: r for r in sets if r.get("Name") == fqdn and r.get("Failover")}


def current_path(aws: Aws, check_id: str) -> str | None:
    return get_check(aws, check_id)["HealthCheckConfig"].get("ResourcePath")


def set_path(aws: Aws, check_id: str, path: str) -> bool:
    """Set a check's ResourcePath; False when it already was ``path``. Optimistic concurrency."""
    for attempt in range(2):  # a concurrent change (version mismatch): re-read once and retry
        check = get_check(aws, check_id)
        if check["HealthCheckConfig"].get("ResourcePath") == path:
            return False
        try:
            aws.call(
                route53(aws),
                "UpdateHealthCheck",
                HealthCheckId=check_id,
                HealthCheckVersion=check.get("HealthCheckVersion", 1),
                ResourcePath=path,
            )
            break
        except ClientError as exc:
            if error_code(exc) != "HealthCheckVersionMismatch" or attempt == 1:
                raise ExternalError(f"UpdateHealthCheck {check_id}: {error_code(exc)}: {error_message(exc)}") from None
    return True


#: How often the waits below ask Route 53 (its checkers report every 10 or 30 s).
WAIT_INTERVAL_S = 10.0


def wait_primary_health(
    aws: Aws,
    check_id: str,
    *,
    healthy: bool,
    timeout: float,
    clock: Clock,
    on_update: Callable[[str], None] | None,
    timeout_hint: str,
) -> CheckStatus:
    """Wait until Route 53 reports ``check_id`` (the PRIMARY record's check) healthy, or unhealthy."""
    wanted = "healthy" if healthy else "unhealthy"

    def judge(status: CheckStatus) -> Verdict[CheckStatus]:
        reached = bool(status.healthy) if healthy else status.healthy is False
        shown = "healthy" if status.healthy else ("not healthy yet" if healthy else "unhealthy")
        return Verdict("done" if reached else "wait", f"Route 53: primary {shown} ({status.detail})", status)

    final, _ = poll_until(
        lambda: observed_status(aws, check_id),
        judge,
        interval=WAIT_INTERVAL_S,
        timeout=timeout,
        clock=clock,
        what=f"Route 53 marking the primary {wanted}",
        on_update=on_update,
        timeout_hint=timeout_hint,
    )
    return final
