"""Notifications: one SNS topic per region that raises DR alarms.

CloudWatch alarms can only notify a topic in their own region, and Route 53
publishes health-check metrics only in us-east-1, so there is a topic in the
primary region, the DR region and us-east-1. Each is subscribed by the
configured e-mail addresses and encrypted with a customer-managed key in its
region: CloudWatch needs kms:GenerateDataKey*/kms:Decrypt on the topic's key to
publish an alarm, which the AWS-managed ``alias/aws/sns`` key can never grant
(its policy cannot be changed), so alarms to such a topic are silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import Sites, customer_managed_key, opts, policy_json, tags


@dataclass(frozen=True)
class NotificationsArgs:
    sites: Sites
    us_east_1_provider: pulumi.ProviderResource
    emails: list[str]
    tag_base: dict[str, str]
    #: EventBridge rules of this stack named with this prefix may publish to the DR topic (None: none may).
    events_rule_prefix: str | None = None


class Notifications(pulumi.ComponentResource):
    primary_topic_arn: pulumi.Output[str]
    dr_topic_arn: pulumi.Output[str]
    global_topic_arn: pulumi.Output[str]
    """The us-east-1 topic (Route 53 health-check alarms)."""

    def __init__(self, name: str, args: NotificationsArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:notifications:Notifications", name, None, opts_)
        topics = {}

        def rules_prefix(site: str) -> str | None:
            """The DR topic also takes EventBridge rules named ``<events_rule_prefix>*`` (the DR keys' changes)."""
            return args.events_rule_prefix if site == "dr" else None

        for site, provider in (
            ("primary", args.sites.primary.provider),
            ("dr", args.sites.dr.provider),
            ("global", args.us_east_1_provider),
        ):
            key = customer_managed_key(
                f"{name}-{site}-key",
                parent=self,
                provider=provider,
                description=f"idp-dr {name}: {site} alarm topic (CloudWatch may use it)",
                # One alias per site: the primary or DR region may be us-east-1 too.
                alias=f"idp-dr/{name}/sns-{site}",
                tag_base=args.tag_base,
            )
            key_policy = aws.kms.KeyPolicy(
                f"{name}-{site}-key-policy",
                key_id=key.key_id,
                policy=key.arn.apply(lambda arn, site=site: self._key_policy(arn, events_rules=rules_prefix(site))),
                opts=opts(self, provider),
            )
            topic = aws.sns.Topic(
                f"{name}-{site}",
                kms_master_key_id=key.arn,
                tags=tags(args.tag_base, **{"idp-dr:site": site}),
                # Alarms published before CloudWatch may use the key would be dropped.
                opts=opts(self, provider, depends_on=[key_policy]),
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
            if rules_prefix(site):
                aws.sns.TopicPolicy(
                    f"{name}-{site}-topic-policy",
                    arn=topic.arn,
                    policy=topic.arn.apply(lambda arn, site=site: self._topic_policy(arn, str(rules_prefix(site)))),
                    opts=opts(self, provider),
                )
        self.primary_topic_arn = topics["primary"].arn
        self.dr_topic_arn = topics["dr"].arn
        self.global_topic_arn = topics["global"].arn
        self.register_outputs(
            {
                "primary_topic_arn": self.primary_topic_arn,
                "dr_topic_arn": self.dr_topic_arn,
                "global_topic_arn": self.global_topic_arn,
            }
        )

    @staticmethod
    def _topic_policy(topic_arn: str, rules_prefix: str) -> pulumi.Output[str]:
        """The account's principals use the topic (IAM policies decide, as with SNS's default topic policy; managing
        it needs no grant here, in the same account), CloudWatch alarms publish, and so do this stack's
        EventBridge rules."""
        _arn, partition, _sns, region, account, _name = topic_arn.split(":", 5)
        rules = f"arn:{partition}:events:{region}:{account}:rule/{rules_prefix}*"
        account_actions = ["sns:GetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish"]
        return policy_json(
            [
                {
                    "Sid": "AccountUsesTheTopic",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                    "Action": account_actions,
                    "Resource": topic_arn,
                },
                {
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*"},
                    },
                },
                {
                    "Sid": "StackEventRulesPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": rules}},
                },
            ]
        )

    @staticmethod
    def _key_policy(key_arn: str, *, events_rules: str | None = None) -> pulumi.Output[str]:
        """The account (IAM policies decide, as with the default key policy) plus CloudWatch alarms, and on the
        DR topic's key this stack's EventBridge rules (``events_rules``: their name prefix).

        The account and partition come from the key's own ARN: no data-source call.
        """
        _arn, partition, _kms, region, account, _rest = key_arn.split(":", 5)
        rules = f"arn:{partition}:events:{region}:{account}:rule/{events_rules}*"
        events = [
            {
                "Sid": "StackEventRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"aws:SourceArn": rules}},
            }
        ] if events_rules else []  # fmt: skip
        return policy_json(
            [
                *events,
                {
                    "Sid": "EnableIamPolicies",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    # Only this account's alarms (confused deputy).
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:*:{account}:alarm:*"},
                    },
                },
            ]
        )
