"""What the hostile-input test found, one named test each, with the exact message and no change made."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.errors import InputError
from scripts.inputs import MAX_BYTES
from scripts.k8s.adapter import KubectlAdapter, make_adapter
from scripts.runstate.store import LocalStore
from scripts.stack_outputs import load_stack_outputs
from tests.scripts.failover_world import run_failover
from tests.scripts.world import invoke


def test_a_report_dir_that_is_a_file_is_refused_before_the_drill_starts(world, standby, tmp_path):
    not_a_dir = tmp_path / "reports"
    not_a_dir.write_text("x")
    argv = ["drill", "--aws", "--stack-outputs", str(world.outputs_path), "--report-dir", str(not_a_dir)]
    result = invoke(argv, aws=world.aws(), kube=standby, clock=world.clock)
    assert result.code == 2
    assert result.error_line == (
        f"invalid --report-dir '{not_a_dir}': a directory this run can write its report into (File exists)"
    )
    assert world.recorder.calls == []  # nothing read, nothing written


def test_a_state_dir_under_proc_is_refused_before_the_lock_is_taken(world, standby):
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", "/proc/self")
    assert result.code == 2
    assert result.error_line.startswith(
        "invalid --state-dir '/proc/self': a directory this run can write its state into ("
    )
    assert world.recorder.mutating() == []


@pytest.mark.parametrize("context", ["\x00", "", " ", "a\nb", "x" * 254])
def test_a_kube_context_that_kubectl_cannot_take_is_bad_input_naming_its_flag(context):
    with pytest.raises(InputError) as caught:
        make_adapter("kubectl", context=context)
    assert caught.value.message == (
        f"invalid --kube-context {context!r}: a kubeconfig context name: 1 to 253 printable characters"
    )
    with pytest.raises(InputError) as primary:
        KubectlAdapter(context, flag="--primary-kube-context")
    assert primary.value.message.startswith("invalid --primary-kube-context ")


def test_a_restore_into_a_parameter_group_that_lists_nothing_is_bad_input(world):
    """moto lists no group for an odd name where AWS answers DBParameterGroupNotFound: both are refused alike."""
    argv = ["restore", "rds", "--source", "sso-db", "--target", "fuzz-target", "--latest",
            "--db-parameter-group", "9999-12-31T23:59:59+14:00"]  # fmt: skip
    result = invoke(argv, aws=world.aws(), clock=world.clock)
    assert result.code == 2
    assert result.error_line == (
        "invalid --db-parameter-group '9999-12-31T23:59:59+14:00': an existing parameter group in eu-west-1 "
        "(NotFound: none listed)"
    )
    assert world.recorder.mutating() == []


def test_a_state_dir_with_a_nul_byte_is_bad_input():
    with pytest.raises(InputError) as caught:
        LocalStore(Path("a\x00b"))
    assert caught.value.message == "invalid --state-dir 'a\\x00b': a directory path (this one holds a NUL byte)"


def test_stack_outputs_nested_too_deep_are_bad_input_not_a_recursion_error(world, standby, tmp_path):
    deep = tmp_path / "outputs.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = invoke(["failover", "--stack-outputs", str(deep), "--yes"], aws=world.aws(), kube=standby)
    assert result.code == 2
    assert result.error_line == (
        f"invalid --stack-outputs '{deep}': expected JSON from 'pulumi stack output --json' (this one nests too deep)"
    )
    assert world.recorder.calls == []


def test_a_secret_file_that_never_ends_is_refused_without_reading_it():
    """``--client-secret-file /dev/zero`` ran out of memory: a device is not a regular file."""
    from scripts.verify.cli_args import read_secret_file

    with pytest.raises(InputError) as caught:
        read_secret_file("--client-secret-file", Path("/dev/zero"))
    assert caught.value.message == (
        "invalid --client-secret-file '/dev/zero': a readable file holding the secret (not a regular file)"
    )


def test_a_secret_file_over_64_kib_is_refused(tmp_path):
    from scripts.verify.cli_args import read_secret_file

    big = tmp_path / "secret"
    big.write_text("s" * (64 * 1024 + 1))
    with pytest.raises(InputError) as caught:
        read_secret_file("--client-secret-file", big)
    assert caught.value.message == (
        f"invalid --client-secret-file '{big}': a readable file holding the secret (at most 65536 bytes; this one "
        "is larger)"
    )


def test_a_json_file_nested_too_deep_is_bad_input(tmp_path):
    from scripts.inputs import read_json

    deep = tmp_path / "baseline.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError) as caught:
        read_json("--baseline", deep, "a baseline file")
    assert caught.value.message == (
        f"invalid --baseline '{deep}': a baseline file (not JSON a reader can hold: nested too deep)"
    )


def test_a_drill_with_a_bad_baseline_file_writes_no_failed_drill_record(world, standby, tmp_path):
    """The review's finding: a bad --baseline file made drill --aws record a failed drill (and a metric): a file
    the operator names is bad input, which changes nothing. (No baseline in the DR bucket stays a failed drill:
    test_drill_aws.py, the DR path's problem, alarmed.)"""
    bad = tmp_path / "baseline.json"
    bad.write_text("[1, 2]")
    argv = ["drill", "--aws", "--stack-outputs", str(world.outputs_path), "--baseline", str(bad),
            "--report-dir", str(tmp_path / "reports")]  # fmt: skip
    result = invoke(argv, aws=world.aws(), kube=standby, clock=world.clock)
    assert result.code == 2, result.stderr
    assert result.error_line.startswith(f"invalid --baseline '{bad}'")
    assert world.recorder.mutating() == []
    assert list((tmp_path / "reports").iterdir()) == []


def _cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    return main([*argv, "--quiet"], stdout=io.StringIO(), stderr=err), err.getvalue()


LONG_NAME = "é" * 300  # 600 bytes: over the 255 a file name may have (ENAMETOOLONG, not "no such file")


def test_a_stack_outputs_name_too_long_for_the_os_is_bad_input():
    code, err = _cli("check", "dr-paths", "--stack-outputs", LONG_NAME)
    assert code == 2
    assert err.startswith(f"error: invalid --stack-outputs {LONG_NAME!r}: expected a readable file (or '-' for stdin)")


def test_an_audit_reference_name_too_long_for_the_os_is_bad_input(tmp_path):
    (tmp_path / "secret").write_text("x")
    code, err = _cli("audit", "realm-config", "--base-url", "http://127.0.0.1:9", "--realm", "company", "--client-id",
                     "auditor", "--client-secret-file", str(tmp_path / "secret"), "--against", LONG_NAME)  # fmt: skip
    assert code == 2
    assert err.startswith(f"error: invalid --against {LONG_NAME!r}: a readable reference file written by --write")


def test_stack_outputs_on_stdin_are_bounded(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(" " * (MAX_BYTES + 1)))
    with pytest.raises(InputError) as caught:
        load_stack_outputs("-")
    assert caught.value.allowed == f"at most {MAX_BYTES} bytes of JSON on stdin (this is more)"
