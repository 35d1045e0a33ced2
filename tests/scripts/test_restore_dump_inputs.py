"""``restore dump``'s bad inputs: each named with what is allowed, refused before any connection."""

from __future__ import annotations

import io

import pytest

from scripts.cli import main

BASE = ["restore", "dump", "--archive", "s3://some-archive", "--db-dsn", "host=127.0.0.1 port=9 dbname=postgres"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dbname", "keycloak", "--jobs", "0"], "invalid --jobs 0: an integer from 1 to 64"),
        (["--dump", "latest"], "invalid --dbname None: the database to replace (required with --dump latest)"),
        (["--dbname", "postgres"], "invalid --db-dsn 'dbname=postgres': a connection to another database (the target "
                                   "is dropped)"),
        (["--archive", "s3://Bad_Bucket", "--dbname", "keycloak"], "invalid --archive 's3://Bad_Bucket'"),
        (["--dbname", "keycloak", "--before", "2026-11-01 10:00"], "invalid --before '2026-11-01 10:00'"),
        (["--dbname", "keycloak", "--baseline", "b.json"], "invalid --baseline 'b.json': only with --kube-adapter (the "
                                                          "IdP must be started again to be verified)"),
        (["--dbname", "keycloak", "--base-url", "https://sso.example.com"],
         "invalid --base-url 'https://sso.example.com': only meaningful with --baseline"),
        (["--dbname", "keycloak", "--kube-adapter", "fake:k.json", "--replicas", "0"], "invalid --replicas 0: an "
                                                                                       "integer from 1 to 100"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_what_is_allowed(extra, message):
    err = io.StringIO()
    code = main([*BASE, *extra, "--quiet"], stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert f"error: {message}" in err.getvalue()


@pytest.mark.parametrize(
    ("journal", "message"),
    [
        ("{not json", "a journal written by restore dump (version 1); this one is not JSON"),
        ('{"version": 1}', "a journal written by restore dump (version 1); missing or mistyped: command, subject, "
                           "started_at, pinned, steps, runs"),
    ],
)  # fmt: skip
def test_a_journal_it_did_not_write_is_refused_naming_it(journal, message, tmp_path):
    (tmp_path / "state.json").write_text(journal)
    err = io.StringIO()
    code = main([*BASE, "--dbname", "keycloak", "--state-dir", str(tmp_path), "--quiet"], stdout=io.StringIO(),
                stderr=err)  # fmt: skip
    assert code == 2
    assert f"error: invalid --state-dir '{tmp_path / 'state.json'}': {message}" in err.getvalue()
    assert (tmp_path / "state.json").read_text() == journal  # left as it was, for the record


def test_a_journal_for_another_database_is_refused(tmp_path):
    from scripts.runstate import Journal
    from scripts.runstate.store import LocalStore

    other = Journal.open(LocalStore(tmp_path), command="restore dump", subject="authentik")
    other.save()
    err = io.StringIO()
    code = main([*BASE, "--dbname", "keycloak", "--state-dir", str(tmp_path), "--quiet"], stdout=io.StringIO(),
                stderr=err)  # fmt: skip
    assert code == 2
    assert (f"error: invalid --state-dir '{tmp_path}/': a directory for 'authentik''s runs (this run is for "
            "'keycloak')") in err.getvalue()  # fmt: skip
