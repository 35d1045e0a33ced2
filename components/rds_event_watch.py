"""The DR read replica's replication breaking reaches the DR topic within minutes: an EventBridge rule on the RDS
events of that instance.

RDS emits its events in the instance's region, directly to EventBridge (``source: aws.rds``, ``detail-type: RDS DB
Instance Event``, the event's ID in ``detail.EventID``). The IDs are the read-replica events of the DB-instance
table in AWS's page "Amazon RDS event categories and event messages":

* ``RDS-EVENT-0045`` an error has occurred in the read replication process;
* ``RDS-EVENT-0057`` replication on the read replica was terminated;
* ``RDS-EVENT-0062`` replication on the read replica was manually stopped;
* ``RDS-EVENT-0202`` read replica creation failed (a rebuild by ``recover`` or ``failback``).

Not covered by an event: cross-region *automated-backup* replication. The version of that page we could read (the
``awsdocs/amazon-rds-user-guide`` repository) lists no event for it, and we do not guess IDs; the hourly
``check dr-paths`` alarms on it (``ReplicatedBackupAgeSeconds``, ``DrProtectionGaps``). A replica that replicates
the wrong instance (after a swap) sends no event either: ``DrProtectionGaps`` again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components._common import Site, opts, tags

#: The RDS events after which the DR read replica no longer (or never) follows the primary.
REPLICA_EVENTS = ("RDS-EVENT-0045", "RDS-EVENT-0057", "RDS-EVENT-0062", "RDS-EVENT-0202")


def replica_event_pattern(replica_ids: list[str]) -> dict[str, Any]:
    """Those events, of exactly these instances (by identifier: what RDS puts in ``SourceIdentifier``)."""
    return {
        "source": ["aws.rds"],
        "detail-type": ["RDS DB Instance Event"],
        "detail": {"EventID": list(REPLICA_EVENTS), "SourceIdentifier": replica_ids},
    }


@dataclass(frozen=True)
class RdsEventWatchArgs:
    site: Site
    replica_id: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    #: The rule's name; the DR topic lets the stack's rules (its name prefix) publish.
    rule_name: str
    tag_base: dict[str, str]


class RdsEventWatch(pulumi.ComponentResource):
    def __init__(self, name: str, args: RdsEventWatchArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:rds_event_watch:RdsEventWatch", name, None, opts_)
        pattern = pulumi.Output.from_input(args.replica_id).apply(lambda rid: json.dumps(replica_event_pattern([rid])))
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=args.rule_name,
            description="idp-dr: the DR read replica's replication failed, was stopped or terminated, or its "
            "creation failed (a failover by promotion would not have the primary's data)",
            event_pattern=pattern,
            tags=tags(args.tag_base),
            opts=opts(self, args.site.provider),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-to-topic", rule=rule.name, arn=args.topic_arn, opts=opts(self, args.site.provider)
        )
        self.rule_name = rule.name
        self.register_outputs({"rule_name": self.rule_name})
