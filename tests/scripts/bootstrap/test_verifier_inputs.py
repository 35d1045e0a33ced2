"""``bootstrap verifier``: a blank or crafted client ID or realm is refused before anything is contacted, and only
the client with exactly the asked ID is ever changed (Keycloak's ``clientId`` query lists every client when it is
empty). Keycloak's admin API is a stand-in here; the real one is in tests/integration/verify."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.bootstrap.verifier import VerifierRequest, _ensure_client
from tests.scripts.world import invoke


def verifier(tmp_path, *extra: str):
    password = tmp_path / "admin.password"
    password.write_text("not-used\n")
    argv = ["bootstrap", "verifier", "--admin-url", "http://127.0.0.1:9", "--admin-password-file", str(password),
            "--secret", "idp-dr/sso/verifier-client", "--region", "eu-west-1", *extra]  # fmt: skip
    return invoke(argv)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--realm", "company", "--client-id", ""),
            "invalid --client-id '': a client ID of 1 to 255 printable characters without spaces",
        ),
        (
            ("--realm", "company", "--client-id", "   "),
            "invalid --client-id '   ': a client ID of 1 to 255 printable characters without spaces",
        ),
        (
            ("--realm", "../master"),
            "invalid --realm '../master': a realm name: letters, digits, '_', '.', '-' (at most 255, not . or ..)",
        ),
        (
            ("--realm", "company/../master"),
            "invalid --realm 'company/../master': a realm name: letters, digits, '_', '.', '-' (at most 255, not . or "
            "..)",
        ),
    ],
)
def test_blank_or_crafted_ids_are_refused_before_anything_is_contacted(tmp_path, extra, message, monkeypatch):
    import requests

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing may be contacted")

    monkeypatch.setattr(requests.Session, "request", no_network)
    result = verifier(tmp_path, *extra)
    assert result.code == 2
    assert result.error_line == message


class ListsEveryClient:
    """Keycloak's answer when the search matches more than the ID asked for (a prefix, or an empty ID)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append((method, path))

        class Answer:
            def json(self) -> Any:
                return [{"id": "1", "clientId": "idp-dr-verifier-legacy"}, {"id": "2", "clientId": "account"}]

        return Answer()


def test_only_the_exact_client_id_is_taken_never_the_first_one_listed():
    admin = ListsEveryClient()
    request = VerifierRequest(admin, "company", "idp-dr-verifier", "s", "eu-west-1", dry_run=True)  # type: ignore[arg-type]
    changes: list[str] = []
    assert _ensure_client(request, changes) is None
    assert changes == ["create client"]  # not "put back drift" on someone else's client
    assert admin.calls == [("GET", "/realms/company/clients")]
