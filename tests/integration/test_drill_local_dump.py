"""`python -m scripts drill --local --method dump`: the same disaster, recovered from a logical dump.

Real PostgreSQL 15, moto_server and two real Keycloak servers, as in the WAL drill. The dump is taken
by ``backup dump`` during the workload (verified where it landed) and restored by ``restore dump
--dump latest`` onto a new server; the RPO is what the dump did not hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.errors import ExitCode
from scripts.pg.bindir import pg_available
from tests.conftest import need
from tests.integration.test_drill_local import checks, server_pids, wait_gone

pytestmark = [pytest.mark.integration, pytest.mark.keycloak]


@pytest.fixture(scope="module")
def dump_drill(tmp_path_factory) -> dict:
    need(pg_available(), "PostgreSQL 15 server binaries (and a non-root OS user to run them)")
    report_dir = tmp_path_factory.mktemp("drill-dump")
    before = server_pids()
    report_file = report_dir / "report.json"
    code = main(["drill", "--local", "--method", "dump", "--quiet", "--report-dir", str(report_dir),
                 "--report-file", str(report_file)])  # fmt: skip
    doc = json.loads(report_file.read_text())
    doc["_exit_code"] = code
    doc["_leftovers"] = wait_gone(server_pids() - before, timeout=15)
    return doc


def test_the_dump_drill_passes_with_exit_zero(dump_drill):
    failed = {name: status for name, status in checks(dump_drill).items() if status == "FAIL"}
    assert dump_drill["_exit_code"] == ExitCode.OK, failed or dump_drill.get("error")
    assert dump_drill["result"]["method"] == "dump"


def test_the_dump_was_verified_where_it_landed_and_is_the_one_restored(dump_drill):
    assert checks(dump_drill)["backup.dump.verified"] == "pass"
    dump = dump_drill["result"]["dump"]
    assert dump["key"].startswith("pg/dumps/") and dump["key"].endswith(".dump")
    assert dump["bytes"] > 0 and dump["idp_version"]
    restore_steps = [s["name"] for s in dump_drill["steps"]]
    assert restore_steps.index("recover: new PostgreSQL server") < restore_steps.index("recover: restore dump")


def test_the_dump_holds_what_was_committed_before_it_and_nothing_after(dump_drill):
    status = checks(dump_drill)
    for name in ("markers.before_target_present", "markers.after_target_absent",
                 "keycloak.users_before_target_present", "keycloak.users_after_target_absent",
                 "disaster.realm_restored"):  # fmt: skip
        assert status[name] == "pass", name
    evidence = {c["name"]: c["message"] for c in dump_drill["checks"]}
    assert not evidence["markers.before_target_present"].startswith("0 of 0")
    assert not evidence["markers.after_target_absent"].startswith("0 of 0")


def test_the_idp_contract_holds_on_the_restored_dump(dump_drill):
    status = checks(dump_drill)
    for name in ("issuer", "jwks.baseline_overlap", "token.signature", "db.schema_version", "db.signing_keys"):
        assert status[name] == "pass", name


def test_rpo_is_the_time_since_the_dump_and_rto_is_measured_per_phase(dump_drill):
    result = dump_drill["result"]
    rto = result["rto"]
    assert set(rto) == {"new_server_s", "restore_dump_s", "keycloak_ready_s", "verify_s", "total_s"}
    assert abs(sum(v for k, v in rto.items() if k != "total_s") - rto["total_s"]) < 0.5
    rpo = result["rpo"]
    # The workload ran on after the dump (workload seconds, less the pause), so something was lost.
    assert rpo["last_dumped_commit"] < rpo["dump_started_at"] < rpo["last_primary_commit"]
    assert 2 <= rpo["rpo_s"] <= 30
    assert "restore dump" in result["rto_parts"]


def test_the_report_names_the_method_and_nothing_is_left(dump_drill):
    files = dump_drill["result"]["files"]
    markdown = Path(files["markdown"]).read_text()
    assert markdown.startswith("# idp-dr drill report: PASSED") and "- method **dump**" in markdown
    logs = sorted(p.name for p in (Path(files["json"]).parent / "logs").iterdir())
    assert logs == ["primary-keycloak.log", "primary-postgres.log", "restored-postgres.log", "standby-keycloak.log"]
    assert dump_drill["_leftovers"] == set()
    assert not Path(dump_drill["result"]["workspace"]).exists()
