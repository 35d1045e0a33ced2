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
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_what_is_allowed(extra, message):
    err = io.StringIO()
    code = main([*BASE, *extra, "--quiet"], stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert f"error: {message}" in err.getvalue()
