"""The project files users run: Pulumi.yaml and the example stack."""

from __future__ import annotations

import re

import yaml

from components.config import load_stack_config
from scripts.offline import REPO_ROOT, load_stack_file

SECRETISH = re.compile(r"(?i)(password|secret|token|key)$")


def test_example_stack_keeps_secret_looking_keys_only_as_secure_values():
    config = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]
    for key, value in config.items():
        if SECRETISH.search(key):
            assert isinstance(value, dict) and set(value) == {"secure"}, key


def test_example_stack_is_a_valid_idp_dr_config():
    config, secret_keys = load_stack_file(REPO_ROOT / "Pulumi.prod.yaml")
    cfg = load_stack_config(config, secret_keys)
    assert (cfg.primary_region, cfg.dr_region) == ("eu-west-1", "eu-central-1")
    assert secret_keys == {"idp-dr:dbAppPassword"}


def test_project_runs_python_from_the_project_venv():
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "idp-dr"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


def test_barman_version_for_the_postgres_user_matches_requirements():
    from scripts.pg.tools import BARMAN_REQUIREMENT, BOTO3_REQUIREMENT

    requirements = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert BARMAN_REQUIREMENT in requirements
    assert BOTO3_REQUIREMENT in requirements
