"""policy/README.md lists exactly the rules the pack holds, advisory ones marked."""

from __future__ import annotations

import re

from policy.rules import RULES
from scripts.offline import REPO_ROOT


def test_the_readme_table_lists_every_rule_and_its_enforcement():
    text = (REPO_ROOT / "policy" / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9.-]+)`( \(advisory\))? \|", text, re.M))
    assert set(rows) == {rule.name for rule in RULES}
    for rule in RULES:
        assert (rows[rule.name] == " (advisory)") is (not rule.mandatory), rule.name
