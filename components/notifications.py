"""Notifications: one SNS topic per region that raises DR alarms.

CloudWatch alarms can only notify a topic in their own region, and Route 53
publishes health-check metrics only in us-east-1, so there is a topic in the
primary region, the DR region and us-east-1. Each is encrypted with the
AWS-managed SNS key and subscribed by the configured e-mail addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import opts, tags


@dataclass(frozen=True)
class NotificationsArgs:
    primary_provider: pulumi.ProviderResource
    dr_provider: pulumi.ProviderResource
    us_east_1_provider: pulumi.ProviderResource
    emails: list[str]
    tag_base: dict[str, str]


class Notifications(pulumi.ComponentResource):
    primary_topic_arn: pulumi.Output[str]
    dr_topic_arn: pulumi.Output[str]
    global_topic_arn: pulumi.Output[str]
    """The us-east-1 topic (Route 53 health-check alarms)."""

    def __init__(self, name: str, args: NotificationsArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:notifications:Notifications", name, None, opts_)
        topics = {}
        for site, provider in (
            ("primary", args.primary_provider),
            ("dr", args.dr_provider),
            ("global", args.us_east_1_provider),
        ):
            topic = aws.sns.Topic(
                f"{name}-{site}",
                kms_master_key_id="alias/aws/sns",
                tags=tags(args.tag_base, **{"idp-dr:site": site}),
                opts=opts(self, provider),
            )
            for index, email in enumerate(args.emails):
                aws.sns.TopicSubscription(
                    f"{name}-{site}-email-{index}",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=email,
                    opts=opts(self, provider),
                )
            topics[site] = topic
        self.primary_topic_arn = topics["primary"].arn
        self.dr_topic_arn = topics["dr"].arn
        self.global_topic_arn = topics["global"].arn
        self.register_outputs({
            "primary_topic_arn": self.primary_topic_arn,
            "dr_topic_arn": self.dr_topic_arn,
            "global_topic_arn": self.global_topic_arn,
        })
