"""``failover --baseline FILE``: the full ``verify`` as the failover's validator.

:func:`failover_validator` loads the baseline when it is *built* (``failover`` builds it before its
first AWS call), so a missing, malformed or foreign baseline is bad input (exit 2) and changes
nothing. When ``failover`` reaches its ``validate`` step it calls the validator with a
:class:`~scripts.failover.probe.ValidationContext` for the DR site, which:

1. waits until ``{scheme}://{dns.drHealthHostname}{dns.healthPath}`` answers 2xx (what Route 53
   will probe; the pods are starting) for up to ``--validate-timeout``: check ``dr.readiness``;
2. runs :func:`scripts.verify.verify` once against the DR site, with the stack's ``issuer`` as the
   expected issuer and the loaded baseline, into its own report;
3. returns each verify check as ``dr.verify.<check>``.

Which checks must pass before traffic is cut (:data:`CRITICAL_CHECKS`, plus the token checks when
client credentials are given): a *skipped* critical check is returned as a failure, so a check
that did not run can never let traffic be cut. Without ``--client-id``/``--client-secret-file``
the token checks are skipped and shown as skipped. The database checks need the verifier's
database connection, which failover does not take: they are folded into one skipped
``dr.verify.db`` check that says to run ``verify --db-dsn`` after the cut.

Where the DR site is reached: ``base_url`` (failover's ``--dr-base-url``), default
``{scheme}://{dns.drHealthHostname}``. URLs the discovery document advertises (JWKS, token
endpoint) are re-based onto it. Readiness (``dr.verify.readiness``) is read from the health
hostname: the management URL is ``{scheme}://{drHealthHostname}`` + the part of ``healthPath``
before the IdP's readiness path (``/health/ready``, ``/-/health/ready/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scripts.errors import InputError
from scripts.failover.probe import ValidationCheck, ValidationContext, wait_ready
from scripts.inputs import check_http_url
from scripts.report import Check, Report
from scripts.verify.baseline_store import load_baseline
from scripts.verify.core import adapter_for, verify
from scripts.verify.model import Baseline, ClientCredentials, Target, VerifyParams

if TYPE_CHECKING:
    from contract.outputs import StackOutputs

#: verify checks that must pass before traffic is cut; skipped counts as failed.
CRITICAL_CHECKS = ("readiness", "issuer", "jwks.signing_keys", "jwks.baseline_overlap")
#: Critical too when client credentials are given (without them they are skipped, and say so).
TOKEN_CHECKS = ("token.signature", "token.issuer")
#: Report.check's own parameter names: evidence keys that would collide with them are renamed.
_RESERVED = ("name", "ok", "message")
#: The database checks need a connection failover/failback do not take: what to run instead
#: (each command passes its own, naming the database; see scripts.failover.site_validation).
DB_HINT = "run 'python -m scripts verify --baseline FILE --db-dsn ...' against the site's database"


@dataclass(frozen=True)
class FailoverValidator:
    """A :data:`~scripts.failover.probe.Validator`: call it with a ValidationContext."""

    baseline: Baseline
    source: str
    client: ClientCredentials | None = None
    base_url: str | None = None
    http_timeout: float = 10.0
    #: what the folded, skipped database check tells the operator to do
    db_hint: str = DB_HINT
    #: verify's session hygiene (``recover --session-hygiene logout-all``); off for failover and failback.
    session_hygiene: str = "off"

    @property
    def critical(self) -> tuple[str, ...]:
        return CRITICAL_CHECKS + (TOKEN_CHECKS if self.client is not None else ())

    def __call__(self, ctx: ValidationContext) -> list[ValidationCheck]:
        ready = wait_ready(ctx)
        if not ready.ok:
            return [
                ready,
                ValidationCheck(f"{ctx.site}.verify", None, "not run: the site is not ready", {}),
            ]
        if self.baseline.issuer != ctx.issuer:
            return [
                ready,
                ValidationCheck(
                    f"{ctx.site}.verify",
                    False,
                    f"the baseline {self.source} was captured from issuer {self.baseline.issuer!r}, "
                    f"not the stack's {ctx.issuer!r}",
                    {"baseline": self.source},
                ),
            ]
        report = Report("verify")
        try:
            target = self.target(ctx)
            params = VerifyParams(
                target, expected_issuer=ctx.issuer, client=self.client, session_hygiene=self.session_hygiene
            )
            if ctx.on_update:
                ctx.on_update(f"verify {target.base_url} against the baseline {self.source}")
            verify(params, report, self.baseline)
        except InputError as exc:
            # Built from the stack outputs, not from flags: a failed check, not bad input (the
            # failover has already changed things by now).
            return [ready, ValidationCheck(f"{ctx.site}.verify", False, exc.message, {})]
        return [
            ready,
            *to_validation_checks(report.checks, site=ctx.site, critical=self.critical, db_hint=self.db_hint),
        ]

    def target(self, ctx: ValidationContext) -> Target:
        """The DR site as verify sees it (see the module docstring for the URLs)."""
        site = f"{ctx.scheme}://{ctx.host}"
        scope = self.baseline.scope
        target = Target(
            idp=self.baseline.idp,
            base_url=self.base_url or site,
            realm=scope if self.baseline.idp == "keycloak" else None,
            app=scope if self.baseline.idp == "authentik" else None,
            http_timeout=self.http_timeout,
        )
        return replace(target, mgmt_url=management_url(target, site, ctx.health_path))


def management_url(target: Target, site: str, health_path: str) -> str | None:
    """The management URL under which the IdP's readiness path is ``site + health_path``.

    None when ``health_path`` does not end with the IdP's readiness path (a custom Route 53
    path): verify then uses its default (Keycloak: the base URL's host on port 9000).
    """
    adapter = adapter_for(target.idp)
    readiness = urlsplit(adapter.readiness_url(replace(target, mgmt_url=site))).path
    path = "/" + health_path.lstrip("/")
    if not path.endswith(readiness):
        return None
    return site + path[: len(path) - len(readiness)]


def to_validation_checks(
    checks: Iterable[Check], *, site: str, critical: Iterable[str], db_hint: str = DB_HINT
) -> list[ValidationCheck]:
    """verify's checks as ``<site>.verify.<check>``; a skipped critical check becomes a failure.

    Skipped database checks (failover gives verify no database) are folded into one skipped
    ``<site>.verify.db`` check.
    """
    critical = tuple(critical)
    out: list[ValidationCheck] = []
    seen: set[str] = set()
    not_run: list[str] = []
    for check in checks:
        seen.add(check.name)
        if check.ok is None and (check.name.startswith("db.") or check.name == "sessions.hygiene"):
            not_run.append(check.name)
            continue
        ok, message = check.ok, check.message
        if ok is None and check.name in critical:
            ok, message = False, f"skipped, and failover requires it: {message}"
        evidence = {(f"verify_{k}" if k in _RESERVED else k): v for k, v in check.evidence.items()}
        evidence["verify_status"] = check.status
        out.append(ValidationCheck(f"{site}.verify.{check.name}", ok, message, evidence))
    for name in critical:
        if name not in seen:
            out.append(ValidationCheck(f"{site}.verify.{name}", False, "not recorded by verify", {}))
    if not_run:
        out.append(
            ValidationCheck(
                f"{site}.verify.db",
                None,
                f"not run here (no database connection): {db_hint} for schema, keys, counts and the newest event",
                {"checks": not_run},
            )
        )
    return out


def failover_validator(
    baseline_path: str | Path,
    *,
    client: ClientCredentials | None = None,
    outputs: StackOutputs | None = None,
    base_url: str | None = None,
    http_timeout: float = 10.0,
    base_url_flag: str = "--dr-base-url",
    site_label: str = "DR",
    db_hint: str = DB_HINT,
) -> FailoverValidator:
    """Load and check the baseline now; return the validator ``failover`` calls at ``validate``.

    ``outputs`` (the stack outputs): the baseline must be of the stack's identity provider and
    issuer. ``base_url``: where the site's IdP endpoints are reached (default: the health hostname),
    given as ``base_url_flag`` (``--dr-base-url`` for failover, ``--primary-base-url`` for
    failback). Raises InputError (field ``--baseline`` / ``base_url_flag``) for a missing or
    malformed file, a baseline of another IdP or issuer, or a base URL that is not http(s).
    """
    # A file, or 'latest' / s3:// in the DR bucket (baseline --publish keeps them there).
    baseline, source = load_baseline(str(baseline_path), outputs=outputs)
    if outputs is not None:
        if baseline.idp != outputs.idp:
            raise InputError(
                "--baseline",
                source,
                f"a baseline of this stack's identity provider ({outputs.idp}); this file is a baseline "
                f"of {baseline.idp}",
            )
        if baseline.issuer != outputs.issuer:
            raise InputError(
                "--baseline",
                source,
                f"a baseline captured from the stack's issuer {outputs.issuer!r}; this file's issuer "
                f"is {baseline.issuer!r}",
                hint="capture one from production with 'python -m scripts baseline'",
            )
    if base_url is not None:
        check_http_url(
            base_url_flag,
            base_url,
            f"an http:// or https:// URL where this machine reaches the {site_label} IdP, e.g. "
            "http://127.0.0.1:8080 (a port-forward)",
        )
    return FailoverValidator(
        baseline=baseline,
        source=source,
        client=client,
        base_url=base_url,
        http_timeout=http_timeout,
        db_hint=db_hint,
    )
