"""The getting-started guide states defaults the program computes: the guide and the code cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.conftest import run_stack

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started-aws.md"


def test_the_health_hostnames_the_guide_names_are_the_programs_defaults():
    """Certificates issued for other names fail the primary's health check and send users to the DR site."""
    outputs = run_stack().outputs  # publicHostname sso.example.com, no dns.*HealthHostname set
    named = re.findall(r"`(health-[a-z]+\.sso\.example\.com)`", GUIDE.read_text())
    dns = outputs["dns"]
    assert named == [dns["primaryHealthHostname"], dns["drHealthHostname"]]
