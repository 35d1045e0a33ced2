"""Files named on the command line: binary, unparsable or the wrong kind are bad input (exit 2) with
what is allowed, never a traceback; nothing is contacted or written."""

from __future__ import annotations

import json

from scripts.cli import main

BINARY = bytes(range(128, 256)) * 2


def test_a_binary_stack_file_is_refused(tmp_path, capsys):
    path = tmp_path / "Pulumi.bin.yaml"
    path.write_bytes(BINARY)
    assert main(["plan", "--stack-file", str(path)]) == 2
    assert (
        f"error: invalid --stack-file '{path}': a Pulumi stack config file (YAML) (this file is not UTF-8 text)"
        in capsys.readouterr().err
    )


def test_a_stack_file_that_is_not_a_mapping_is_refused(tmp_path, capsys):
    path = tmp_path / "Pulumi.list.yaml"
    path.write_text("- one\n- two\n")
    assert main(["plan", "--stack-file", str(path)]) == 2
    assert (
        f"error: invalid --stack-file '{path}': a Pulumi stack config file (a YAML mapping with a config: key)"
        in capsys.readouterr().err
    )


def test_a_stack_file_that_is_not_yaml_is_refused(tmp_path, capsys):
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text("config: {unclosed\n")
    assert main(["plan", "--stack-file", str(path)]) == 2
    assert f"error: invalid --stack-file '{path}': a Pulumi stack config file (YAML) (not YAML:" in (
        capsys.readouterr().err
    )


def test_binary_stack_outputs_are_refused(tmp_path, capsys):
    path = tmp_path / "outputs.json"
    path.write_bytes(BINARY)
    assert main(["failover", "--stack-outputs", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: invalid --stack-outputs '{path}': expected a readable file of JSON text (or '-' for stdin) "
        "(this file is not UTF-8 text)" in err
    )


def test_a_fake_cluster_file_that_is_not_json_is_refused(tmp_path, capsys):
    from scripts.errors import InputError
    from scripts.k8s.adapter import make_adapter

    path = tmp_path / "kube.json"
    path.write_text("not json")
    try:
        make_adapter(f"fake:{path}", context=None)
    except InputError as exc:
        assert exc.message.startswith(
            f"invalid --kube-adapter 'fake:{path}': fake:<a JSON state file the sandbox wrote> (not JSON:"
        )
    else:
        raise AssertionError("a non-JSON fake cluster file was accepted")
    path.write_text(json.dumps([1]))
    try:
        make_adapter(f"fake:{path}", context=None)
    except InputError as exc:
        assert exc.message == (
            f"invalid --kube-adapter 'fake:{path}': fake:<a JSON state file the sandbox wrote> (not an object)"
        )
    else:
        raise AssertionError("a fake cluster file holding a list was accepted")


def test_restoring_into_the_root_directory_is_refused_before_anything_is_read(tmp_path, capsys):
    code = main(["restore", "wal", "--archive", "s3://b/p", "--server-name", "s", "--pgdata", "/", "--latest"])
    assert code == 2
    assert (
        "error: invalid --pgdata '/': a directory below the file-system root for the restored cluster, "
        "e.g. /var/lib/postgresql/16/restore" in capsys.readouterr().err
    )


def test_non_finite_timeouts_are_refused(capsys):
    for flag in ("--http-timeout", "--max-event-age"):
        for value in ("nan", "inf", "-inf"):
            argv = ["verify", "--idp", "keycloak", "--base-url", "https://sso.example.com", "--realm", "r",
                    "--expected-issuer", "https://sso.example.com/realms/r", f"{flag}={value}"]  # fmt: skip
            assert main(argv) == 2, (flag, value)
            assert f"invalid duration '{value}'" in capsys.readouterr().err
