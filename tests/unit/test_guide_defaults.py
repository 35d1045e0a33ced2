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


def test_the_guide_sets_the_first_administrator_and_the_verifier_signs_in_as_it():
    """Day one: the secret the guide sets is the one the program turns into the bootstrap admin, whose user is the
    one bootstrap verifier signs in as by default."""
    from components.config.loading import SECRET_KEYS
    from components.standby.spec import BOOTSTRAP_ADMIN_USER
    from scripts.cli import build_parser

    text = GUIDE.read_text()
    assert "pulumi config set --secret idp-dr:adminPassword" in text and "adminPassword" in SECRET_KEYS
    assert "pulumi config get idp-dr:adminPassword > ./keycloak-admin.password" in text
    args = build_parser().parse_args(["bootstrap", "verifier", "--admin-url", "http://x", "--admin-password-file", "f"])
    assert args.admin_user == BOOTSTRAP_ADMIN_USER
