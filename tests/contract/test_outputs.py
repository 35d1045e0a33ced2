"""The stack outputs are built through their model: a renamed or forgotten key fails the program."""

from __future__ import annotations

import pytest

from contract.outputs import ArchiveOutputs, exported

ARCHIVE = {"primaryBucket": "a", "drBucket": "b", "prefix": "pg", "serverName": "sso"}


def test_a_section_keyed_as_its_model_passes_through_unchanged():
    # ARCHIVE leaves out the optional writerRoleArn: only required keys must be present.
    assert exported(ArchiveOutputs, ARCHIVE) is ARCHIVE


def test_a_renamed_key_is_refused_naming_it_and_the_missing_one():
    renamed = {**{k: v for k, v in ARCHIVE.items() if k != "drBucket"}, "drBucketName": "b"}
    with pytest.raises(ValueError) as info:
        exported(ArchiveOutputs, renamed)
    assert str(info.value) == "ArchiveOutputs outputs: unknown ['drBucketName'], missing ['drBucket']"


def test_the_stack_outputs_reference_is_generated_from_the_model():
    import re

    from contract.reference import markdown_table
    from scripts.offline import REPO_ROOT

    text = (REPO_ROOT / "docs" / "reference" / "stack-outputs.md").read_text()
    match = re.search(r"<!-- stack-outputs:start -->\n(.*?)\n<!-- stack-outputs:end -->", text, re.S)
    assert match and match.group(1) == markdown_table(), "regenerate with: python -m contract.reference"
