"""``pip install .`` gives an ``idp-dr`` console script that works outside the checkout, with the data
files the commands read (the RDS CA bundle, the policy pack)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.offline import REPO_ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pkg")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(root / "wheel"), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = (root / "wheel").glob("idp_dr-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"contract/rds-ca-bundle.pem", "policy/rules.py", "policy/PulumiPolicy.yaml"} <= names
    assert not any(name.startswith("tests/") for name in names)
    target = root / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return target


def test_the_console_script_runs_the_cli_outside_the_checkout(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    result = subprocess.run(
        [str(installed / "bin" / "idp-dr"), "bootstrap", "db", "--help"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: idp-dr bootstrap db")
    probe = subprocess.run(
        [sys.executable, "-c", "import contract.tls as t; print(t.RDS_CA_BUNDLE.is_file(), t.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    is_file, where = probe.stdout.split()
    assert is_file == "True" and where.startswith(str(installed))
