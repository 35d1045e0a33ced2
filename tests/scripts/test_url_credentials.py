"""A URL flag carrying user:password@ is refused with the credentials masked: never echoed into the
error, the report, a baseline or a log (security review item 8)."""

from __future__ import annotations

import io
import json

import pytest

from scripts.cli import main

SECRET = "s3cr3t-in-url"


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--json"], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "flag", "masked"),
    [
        (["verify", "--idp", "keycloak", "--base-url", f"https://admin:{SECRET}@sso.example.com", "--realm", "r",
          "--expected-issuer", "https://sso.example.com/realms/r"], "--base-url", "https://***@sso.example.com"),
        (["verify", "--idp", "keycloak", "--base-url", "https://sso.example.com", "--realm", "r",
          "--mgmt-url", f"http://ops:{SECRET}@127.0.0.1:9000", "--expected-issuer", "https://sso.example.com/realms/r"],
         "--mgmt-url", "http://***@127.0.0.1:9000"),
        (["restore", "wal", "--archive", "s3://bkt/pg", "--server-name", "s", "--pgdata", "/tmp/idp-dr-never",
          "--latest", "--endpoint-url", f"http://AKIAX:{SECRET}@127.0.0.1:9"], "--endpoint-url", "http://***@127.0.0.1:9"),
        (["drill", "--local", "--hostname", f"https://u:{SECRET}@sso.example.test"], "--hostname",
         "https://***@sso.example.test"),
    ],
)  # fmt: skip
def test_credentials_in_a_url_are_refused_and_never_printed(argv, flag, masked):
    code, out, err = _run(argv)
    assert code == 2
    assert SECRET not in out and SECRET not in err
    error = json.loads(out)["error"]["message"]
    assert error.startswith(f"invalid {flag} '{masked}': a URL without credentials in it")
