"""The DR region's keys watched as they change: a key scheduled for deletion or disabled notifies the DR topic
within minutes, through EventBridge on the CloudTrail management event of that call.

The hourly ``check dr-paths`` alarms on the same condition (``DrKeysNotEnabled``) and needs no trail; this
rule is the fast path and needs CloudTrail to log management events in the DR region (an organization or
account trail; without one EventBridge receives no API-call events and only the hourly alarm remains).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components._common import Site, opts, tags

#: The KMS calls after which what a key encrypts cannot be restored (once deleted) or read (while disabled).
KEY_CHANGE_EVENTS = ("ScheduleKeyDeletion", "DisableKey")


def key_change_pattern(key_arns: list[str]) -> dict[str, Any]:
    """The EventBridge pattern: those calls, by CloudTrail, on exactly these keys (matched by ARN)."""
    return {
        "source": ["aws.kms"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["kms.amazonaws.com"],
            "eventName": list(KEY_CHANGE_EVENTS),
            "resources": {"ARN": key_arns},
        },
    }


@dataclass(frozen=True)
class DrKeyWatchArgs:
    site: Site
    key_arns: Sequence[pulumi.Input[str]]
    topic_arn: pulumi.Input[str]
    #: The rule's name; the DR topic lets the stack's rules (its name prefix) publish.
    rule_name: str
    tag_base: dict[str, str]


class DrKeyWatch(pulumi.ComponentResource):
    def __init__(self, name: str, args: DrKeyWatchArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:dr_key_watch:DrKeyWatch", name, None, opts_)
        pattern: pulumi.Output[str] = pulumi.Output.all(*args.key_arns).apply(
            lambda arns: json.dumps(key_change_pattern(sorted(set(arns))))
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=args.rule_name,
            description="idp-dr: a DR-region key scheduled for deletion or disabled (the DR copies it encrypts "
            "will not restore once it is gone)",
            event_pattern=pattern,
            tags=tags(args.tag_base),
            opts=opts(self, args.site.provider),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-to-topic",
            rule=rule.name,
            arn=args.topic_arn,
            opts=opts(self, args.site.provider),
        )
        self.rule_name = rule.name
        self.register_outputs({"rule_name": self.rule_name})
