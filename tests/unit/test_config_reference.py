"""The configuration reference (docs/reference/configuration.md) is generated from the config model and kept in sync."""

from __future__ import annotations

import re

from components.config.reference import markdown_table, settings
from scripts.offline import REPO_ROOT

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def test_every_setting_is_documented():
    undocumented = [s.key for s in settings() if not s.doc]
    assert undocumented == []


REFERENCE = REPO_ROOT / "docs" / "reference" / "configuration.md"


def test_the_reference_carries_the_generated_table():
    readme = REFERENCE.read_text()
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    assert match, f"{REFERENCE} lacks the config-reference markers"
    assert match.group(1) == markdown_table(), "regenerate with: python -m components.config.reference"


def test_example_stack_uses_only_documented_keys():
    import yaml

    documented = {f"idp-dr:{s.key}" for s in settings()} | {
        "idp-dr:dbAppPassword",
        "idp-dr:authentikSecretKey",
        "idp-dr:masterPassword",
    }
    config = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]

    def keys(prefix: str, value):
        yield prefix
        if (
            isinstance(value, dict)
            and "secure" not in value
            and prefix != "idp-dr:tags"
            and not prefix.endswith("ingressAnnotations")
        ):
            for key, item in value.items():
                yield from keys(f"{prefix}.{key}", item)

    used = {k for key, value in config.items() if key.startswith("idp-dr:") for k in keys(key, value)}
    assert used <= documented, sorted(used - documented)
