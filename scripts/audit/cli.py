"""``idp-dr audit realm-config``: a Keycloak realm's configuration against a committed reference."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import requests

from scripts.audit.realm_config import ROLES, compare, export_realm, normalise, render
from scripts.bootstrap.verifier import check_client_id, check_realm
from scripts.cliutil import DefaultsHelpFormatter
from scripts.errors import CheckFailed, ExternalError, InputError
from scripts.inputs import check_http_url, is_regular_file, read_text
from scripts.report import Report
from scripts.verify.cli_args import read_secret_file


def register_audit(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "realm-config",
        parents=[common],
        formatter_class=DefaultsHelpFormatter,
        help="diff a Keycloak realm's configuration against a committed reference (exit 1 on drift)",
        description=(
            "Read the realm's configuration through the admin API with GET calls only (the realm, clients, "
            "client scopes, roles, groups, flows, identity providers, components; no users, no credentials), "
            "normalise it (stable order, generated IDs and timestamps removed, every secret-looking value "
            "masked) and compare it with --against (exit 1 on drift, one line per difference), or record it "
            "with --write. The client's service account needs the realm-management roles "
            + ", ".join(ROLES)
            + " of that realm, and nothing that can change it. authentik: not built yet."
        ),
    )
    p.add_argument("--base-url", required=True, metavar="URL", help="where this machine reaches Keycloak")
    p.add_argument("--realm", required=True, metavar="R", help="the realm to audit")
    p.add_argument("--client-id", required=True, metavar="ID", help="a confidential client of that realm")
    p.add_argument("--client-secret-file", required=True, type=Path, metavar="F", help="file holding its secret")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--against", type=Path, metavar="FILE", help="the committed reference to compare with")
    what.add_argument("--write", type=Path, metavar="FILE", help="record the realm's configuration as the reference")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds per HTTP request")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, report: Report) -> None:
    base = check_http_url("--base-url", args.base_url, "an http(s) URL where this machine reaches Keycloak")
    # A realm with a path in it ('../master') would reach another admin URL; a timeout of -1 or inf never ends.
    check_realm(args.realm)
    check_client_id(args.client_id)
    if not (isinstance(args.timeout, float) and math.isfinite(args.timeout) and 1 <= args.timeout <= 300):
        raise InputError("--timeout", args.timeout, "seconds from 1 to 300")
    secret = read_secret_file("--client-secret-file", args.client_secret_file)
    report.register_secret(secret)
    reference = _read_reference(args.against) if args.against else None
    api = _ClientCredentialsApi(base.rstrip("/"), args.realm, args.client_id, secret, args.timeout)
    with report.step("export", realm=args.realm):
        current = normalise(export_realm(api, args.realm))
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(render(current))
        report.result.update(written=str(args.write), clients=len(current.get("clients", [])))
        return
    drift = compare(reference or {}, current)
    lines = drift.lines()
    report.result.update(against=str(args.against), drift=lines, clean=drift.clean)
    report.check(
        "realm.config",
        drift.clean,
        f"realm {args.realm!r} matches {args.against}"
        if drift.clean
        else f"realm {args.realm!r} drifted from {args.against}: {len(lines)} difference(s)",
        added=len(drift.added),
        removed=len(drift.removed),
        changed=len(drift.changed),
    )
    report.notes += lines[:200]
    if not drift.clean:
        raise CheckFailed(
            f"realm {args.realm!r} drifted from {args.against} ({len(lines)} difference(s), listed above)",
            hint=f"if the change is intended, record it with --write {args.against} and commit it",
        )


def _read_reference(path: Path) -> dict:
    if not is_regular_file(path):
        raise InputError("--against", str(path), "a readable reference file written by --write")
    text = read_text("--against", path, "a reference file written by --write")  # bounded, UTF-8, regular
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError("--against", str(path), "a reference file written by --write (this one is not JSON)") from None
    if not isinstance(doc, dict) or "realm" not in doc:
        raise InputError("--against", str(path), "a reference file written by --write (no realm in it)")
    return normalise(doc)


class _ClientCredentialsApi:
    """The admin API as a service account of the audited realm (client credentials, no admin password)."""

    def __init__(self, base: str, realm: str, client_id: str, secret: str, timeout: float):
        self.base, self.realm, self.client_id, self.secret, self.timeout = base, realm, client_id, secret, timeout

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        token = self._token()
        try:
            response = requests.request(
                method,
                f"{self.base}/admin{path}",
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {token}"},
                **kwargs,
            )
        except requests.RequestException as exc:
            raise ExternalError(f"keycloak: {method} /admin{path} failed: {type(exc).__name__}") from None
        if response.status_code == 403:
            raise ExternalError(
                f"keycloak: {self.client_id} may not read the configuration of realm {self.realm!r} ({method} "
                f"/admin{path}: HTTP 403)",
                hint=f"give its service account the realm-management roles {', '.join(ROLES)}",
            )
        if response.status_code >= 400:
            raise ExternalError(f"keycloak: {method} /admin{path}: HTTP {response.status_code}")
        return response

    def _token(self) -> str:
        url = f"{self.base}/realms/{self.realm}/protocol/openid-connect/token"
        try:
            response = requests.post(
                url,
                timeout=self.timeout,
                data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret},
            )
        except requests.RequestException as exc:
            raise ExternalError(f"keycloak: cannot reach {self.base}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ExternalError(
                f"keycloak: no client-credentials token for {self.client_id}: HTTP {response.status_code}",
                hint="check --client-id, its secret and --realm",
            )
        return str(response.json()["access_token"])
