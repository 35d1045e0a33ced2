"""Typed, validated stack configuration (the ``idp-dr:*`` keys of a Pulumi stack).

Every key is validated before any resource (not even a provider) is registered. A bad value
raises :class:`ConfigError` whose lines each read ``invalid idp-dr:<key> <value>: <what is
allowed>``, every problem at once; nothing is created.

* :mod:`~components.config.rules`    – single-field rules as types (range, choice, format) and their words
* :mod:`~components.config.sections` – one model per ``idp-dr:<section>``, each key described once
* :mod:`~components.config.runbook`  – ``idp-dr:runbook``: the runbook image and the scheduled dumps
* :mod:`~components.config.stack`    – :class:`StackConfig` and the cross-field rules, in one place
* :mod:`~components.config.loading`  – reading a stack's keys and formatting the refusals
* :mod:`~components.config.reference` – the table of docs/reference/configuration.md, from the JSON schema
"""

from components.config.loading import (
    NAMESPACE,
    SECRET_KEYS,
    ConfigError,
    load_stack_config,
    read_pulumi_config,
)
from components.config.rules import known_regions
from components.config.stack import StackConfig

__all__ = [
    "NAMESPACE",
    "SECRET_KEYS",
    "ConfigError",
    "StackConfig",
    "known_regions",
    "load_stack_config",
    "read_pulumi_config",
]
