"""Shared fixtures.

Tiers (see README "Tests"):
* tests/unit         the Pulumi program under mocks (no cloud, no servers)
* tests/scripts      the runbook scripts against moto in-process / botocore Stubber
* tests/integration  real PostgreSQL 15, moto_server, barman-cloud and Keycloak

Integration prerequisites that are missing make those tests *skip* on a
laptop, but *fail* when IDP_DR_REQUIRE_INTEGRATION=1 (set by `make test` and
CI), so a broken environment can never pass as "all green".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.pg.osuser import make_workspace, remove_tree  # noqa: E402
from scripts.processes import Supervisor  # noqa: E402


def integration_required() -> bool:
    return os.environ.get("IDP_DR_REQUIRE_INTEGRATION") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip (laptop) or fail (CI) when an integration prerequisite is missing."""
    if condition:
        return
    if integration_required():
        pytest.fail(f"integration prerequisite missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """tests/kube last: under make test their control plane builds in the background meanwhile."""
    kube = [i for i in items if "tests/kube/" in i.nodeid]
    items[:] = [i for i in items if "tests/kube/" not in i.nodeid] + kube


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    with Supervisor() as sup:
        yield sup
    assert not sup.errors, f"cleanup errors: {sup.errors}"


@pytest.fixture
def lab_workspace() -> Iterator[Path]:
    """A directory the PostgreSQL OS user can enter (pytest's tmp_path may not be)."""
    path = make_workspace(prefix="test-")
    yield path
    remove_tree(path)
