"""FailoverDns: Route 53 health-checked failover for the public hostname.

Per site:

* a CNAME for the site's health hostname -> the site's load balancer;
* an HTTPS readiness check on that hostname and the IdP's readiness path
  (port 443, SNI on, the configured interval and failure threshold);
* optionally an HTTPS string-match check that the site's discovery document
  contains the exact production issuer as a JSON string (``"https://…"``,
  quotes included, so a longer URL does not match), which Route 53 must find
  in the first 5,120 bytes (the issuer is the first member for Keycloak and
  authentik);
* a CALCULATED check that is healthy only when both are.

The public hostname gets a PRIMARY/SECONDARY failover pair of CNAMEs (TTL <= 60).
The PRIMARY record carries the primary's calculated check. The SECONDARY record
carries **no** health check by default. Route 53 answers with the PRIMARY record
whenever a SECONDARY that has a health check is unhealthy, whatever the
primary's state. A pilot-light standby is unhealthy until the failover runbook
has scaled it up, so such a check would send clients back to the dead primary.
``dns.secondaryRecordHealthCheck: true`` attaches it (reasonable only for a warm
standby).

Stickiness: ``python -m scripts failover`` changes the primary readiness
check's path to :data:`FAILED_OVER_PATH`, so a primary that comes back (with
stale data) cannot pull traffic back; ``failback`` undoes it after its
pre-checks. Route 53 publishes health-check metrics only in us-east-1, so the
alarms on the primary check and on the standby's readiness live there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import opts, tags
from components.config.sections import DnsConfig

HEALTH_RECORD_TTL = 60


@dataclass(frozen=True)
class SiteTarget:
    site: str  # primary | dr
    health_hostname: str
    load_balancer_hostname: pulumi.Input[str]


@dataclass(frozen=True)
class FailoverDnsArgs:
    """The validated ``idp-dr:dns`` section, the providers it needs, and what the topology derives."""

    config: DnsConfig
    route53_provider: pulumi.ProviderResource
    us_east_1_provider: pulumi.ProviderResource
    record_name: str
    primary: SiteTarget
    dr: SiteTarget
    health_path: str
    discovery_path: str
    issuer: str
    #: Alarm when the DR readiness check fails (only meaningful for a warm standby).
    alarm_on_dr_readiness: bool
    alarm_topic_arn: pulumi.Input[str]
    tag_base: dict[str, str]


class FailoverDns(pulumi.ComponentResource):
    primary_health_check_id: pulumi.Output[str]
    dr_health_check_id: pulumi.Output[str]
    primary_record_health_check_id: pulumi.Output[str]
    secondary_record_health_check_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: FailoverDnsArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:failover_dns:FailoverDns", name, None, opts_)
        self._name = name
        self._args = args
        primary = self._site_checks(args.primary)
        dr = self._site_checks(args.dr)

        self.primary_health_check_id = primary["readiness"].id
        self.dr_health_check_id = dr["readiness"].id
        self.primary_record_health_check_id = primary["record"].id
        self.secondary_record_health_check_id = dr["record"].id if args.config.secondary_record_health_check else None

        for role, target, check_id in (
            ("PRIMARY", args.primary, self.primary_record_health_check_id),
            ("SECONDARY", args.dr, self.secondary_record_health_check_id),
        ):
            aws.route53.Record(
                f"{name}-{role.lower()}-record",
                zone_id=args.config.zone_id,
                name=args.record_name,
                type="CNAME",
                ttl=args.config.ttl,
                records=[target.load_balancer_hostname],
                set_identifier=f"{target.site}",
                failover_routing_policies=[{"type": role}],
                health_check_id=check_id,
                opts=opts(self, args.route53_provider),
            )

        self._alarm(
            "primary-unhealthy",
            primary["record"].id,
            "the primary site failed its health checks: follow the failover runbook",
        )
        if args.alarm_on_dr_readiness:
            self._alarm(
                "dr-unhealthy", dr["readiness"].id, "the warm standby is not ready: a failover now would not be served"
            )
        self.register_outputs(
            {
                "primary_health_check_id": self.primary_health_check_id,
                "dr_health_check_id": self.dr_health_check_id,
                "primary_record_health_check_id": self.primary_record_health_check_id,
                "secondary_record_health_check_id": self.secondary_record_health_check_id,
            }
        )

    def _site_checks(self, target: SiteTarget) -> dict[str, aws.route53.HealthCheck]:
        args, name = self._args, f"{self._name}-{target.site}"
        aws.route53.Record(
            f"{name}-health-record",
            zone_id=args.config.zone_id,
            name=target.health_hostname,
            type="CNAME",
            ttl=HEALTH_RECORD_TTL,
            records=[target.load_balancer_hostname],
            opts=opts(self, args.route53_provider),
        )
        common = {
            "fqdn": target.health_hostname,
            "port": 443,
            "enable_sni": True,
            "request_interval": args.config.health_check.request_interval,
            "failure_threshold": args.config.health_check.failure_threshold,
        }
        readiness = aws.route53.HealthCheck(
            f"{name}-readiness",
            type="HTTPS",
            resource_path=args.health_path,
            reference_name=f"{target.site}-ready"[:28],
            tags=tags(args.tag_base, Name=f"{name} readiness"),
            **common,
            # The primary's path belongs to the runbook: failover points it at FAILED_OVER_PATH (sticky
            # failover) and failback restores it; a routine `pulumi up` must not undo a failover.
            opts=opts(
                self, args.route53_provider, ignore_changes=["resourcePath"] if target.site == "primary" else None
            ),
        )
        checks = {"readiness": readiness, "record": readiness}
        if args.config.health_check.issuer_check:
            issuer = aws.route53.HealthCheck(
                f"{name}-issuer",
                type="HTTPS_STR_MATCH",
                resource_path=args.discovery_path,
                search_string=json.dumps(args.issuer),
                reference_name=f"{target.site}-issuer"[:28],
                tags=tags(args.tag_base, Name=f"{name} issuer"),
                **common,
                opts=opts(self, args.route53_provider),
            )
            combined = aws.route53.HealthCheck(
                f"{name}-combined",
                type="CALCULATED",
                child_healthchecks=[readiness.id, issuer.id],
                child_health_threshold=2,
                reference_name=f"{target.site}-all"[:28],
                tags=tags(args.tag_base, Name=f"{name} readiness and issuer"),
                opts=opts(self, args.route53_provider),
            )
            checks.update(issuer=issuer, record=combined)
        return checks

    def _alarm(self, suffix: str, health_check_id: pulumi.Output[str], why: str) -> None:
        args = self._args
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            alarm_description=f"idp-dr {self._name}: {why}",
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": health_check_id},
            statistic="Minimum",
            period=60,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            tags=tags(args.tag_base),
            # Route 53 publishes HealthCheckStatus in us-east-1 only.
            opts=opts(self, args.us_east_1_provider),
        )
