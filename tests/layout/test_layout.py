"""The layout stays the one CONTRIBUTING.md draws: small files, short functions, import contracts.

Sizes are measured from the source (no timing here). An exception is named below with its reason;
an exception that no longer applies fails too, so the list only ever shrinks.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("components", "contract", "policy", "scripts")
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

#: Files allowed over MAX_FILE_LINES, and why.
LONG_FILES: dict[str, str] = {}

#: Functions allowed over MAX_FUNCTION_LINES ("path:qualified name"), and why.
LONG_FUNCTIONS: dict[str, str] = {
    "components/buckets.py:ReplicatedBuckets._bucket": "one bucket's hardening resources, in the order AWS needs them",
    "scripts/sandbox/topology.py:seed_topology": "the sandbox's AWS world, seeded call by call (sandbox only)",
    "scripts/sandbox/topology.py:_route53": "the sandbox's health checks and records (sandbox only)",
    "scripts/sandbox/command.py:run": "the sandbox command's start, seed and wait loop (sandbox only)",
    "scripts/lab/keycloak.py:start_keycloak": "the lab Keycloak's start options (lab only)",
    "scripts/restore/wal/cli.py:register_restore": "argparse: the command's flags, declared in one list",
    "scripts/restore/rds/cli.py:register_restore": "argparse: the command's flags, declared in one list",
    "scripts/drill/cli.py:register": "argparse: the command's flags, declared in one list",
}


def _sources() -> list[Path]:
    files = [ROOT / "__main__.py"]
    for folder in SOURCE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{node.name}", node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{prefix}{node.name}.")


def _long_files() -> dict[str, int]:
    sizes = {_rel(p): len(p.read_text().splitlines()) for p in _sources()}
    return {name: n for name, n in sizes.items() if n > MAX_FILE_LINES}


def _long_functions() -> dict[str, int]:
    found = {}
    for path in _sources():
        for name, length in _functions(ast.parse(path.read_text())):
            if length > MAX_FUNCTION_LINES:
                found[f"{_rel(path)}:{name}"] = length
    return found


def test_no_source_file_is_longer_than_the_limit_unless_named_with_a_reason():
    assert set(_long_files()) - set(LONG_FILES) == set()


def test_every_long_file_exception_still_applies():
    assert set(LONG_FILES) - set(_long_files()) == set()


def test_no_function_is_longer_than_the_limit_unless_named_with_a_reason():
    assert set(_long_functions()) - set(LONG_FUNCTIONS) == set()


def test_every_long_function_exception_still_applies():
    assert set(LONG_FUNCTIONS) - set(_long_functions()) == set()


def test_the_size_measure_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES + 1))
    tree = ast.parse(f"class C:\n  def f(self):\n{textwrap.indent(body, '  ')}\n")
    assert dict(_functions(tree))["C.f"] > MAX_FUNCTION_LINES


# -- import contracts (pyproject.toml [tool.importlinter]) ----------------------------------------
def _lint_imports(cwd: Path, *config: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -r requirements-dev.txt")
    return subprocess.run(
        [exe, "--no-cache", *config], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_import_contracts_catch_a_cycle_and_a_forbidden_import(tmp_path):
    # Guards against a vacuous pass: the same contract types on a tree that breaks both.
    pkg = tmp_path / "app"
    (pkg / "lab").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lab" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from app import b\n")
    (pkg / "b.py").write_text("from app import a\nfrom app.lab import tools\n")
    (pkg / "lab" / "tools.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["app"]
            [[tool.importlinter.contracts]]
            name = "no cycles"
            type = "acyclic_siblings"
            ancestors = ["app"]
            [[tool.importlinter.contracts]]
            name = "no lab"
            type = "forbidden"
            source_modules = ["app.b"]
            forbidden_modules = ["app.lab"]
            """
        )
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "2 broken" in result.stdout
