"""Fixtures for the verify tests that need no server of ours: a fake authentik, secret files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cli import main
from tests.fakes.authentik import FakeAuthentik


@pytest.fixture
def fake() -> Iterator[FakeAuthentik]:
    server = FakeAuthentik().start()
    yield server
    server.stop()


@pytest.fixture
def secret_file(tmp_path: Path, fake: FakeAuthentik) -> Path:
    path = tmp_path / "client-secret"
    path.write_text(fake.client_secret + "\n")
    path.chmod(0o600)
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> tuple[int, dict]:
    code, out, _err = run_cli(*argv, "--json")
    return code, json.loads(out)


def statuses(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"]}


def check(doc: dict, name: str) -> dict:
    (found,) = [c for c in doc["checks"] if c["name"] == name]
    return found
