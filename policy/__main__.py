"""The idp-dr CrossGuard policy pack: ``pulumi preview --policy-pack policy`` (see policy/README.md).

Every rule of ``rules.py`` becomes one policy: a resource rule a ResourceValidationPolicy, a stack
rule a StackValidationPolicy; mandatory rules block, advisory rules warn. ``plan`` runs the same
rule functions offline, so the two cannot disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The CLI runs this file from the pack's directory; make ``rules`` importable either way.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import RULES, Resource, Rule


def _provider_of(provider) -> tuple[str | None, str | None]:
    if provider is None:
        return None, None
    region = (provider.props or {}).get("region")
    return provider.urn, region if isinstance(region, str) else None


def _resource(resource_type: str, name: str, props, provider) -> Resource:
    key, region = _provider_of(provider)
    return Resource(resource_type, name, props, key, region)


def _policy(rule: Rule):
    level = EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY
    if rule.resource_check is not None:

        def validate_resource(args: ResourceValidationArgs, report_violation) -> None:
            if args.resource_type in rule.types:
                resource = _resource(args.resource_type, args.name, args.props, args.provider)
                for message in rule.resource_check(resource):
                    report_violation(message, args.urn)

        return ResourceValidationPolicy(rule.name, rule.description, validate_resource, level)

    def validate_stack(args: StackValidationArgs, report_violation) -> None:
        resources = [_resource(r.resource_type, r.name, r.props, r.provider) for r in args.resources]
        for _where, message in rule.violations(resources):
            report_violation(message)

    return StackValidationPolicy(rule.name, rule.description, validate_stack, level)


PolicyPack(name="idp-dr", policies=[_policy(rule) for rule in RULES], description=__doc__.splitlines()[0])
