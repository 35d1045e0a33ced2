"""HTTP probes: readiness and the discovery document's issuer; the failover's default validator.

The validator is a seam. ``failover`` calls ``validator(ctx) -> list[ValidationCheck]`` after the
standby is scaled up and before traffic is cut. The default, :func:`readiness_validator`, waits
until ``https://{host}{healthPath}`` answers 2xx and then requires the discovery document's
``issuer`` to equal the stack's ``issuer`` byte for byte (a standby that mints tokens with another
issuer breaks every client even though it looks healthy). With ``--baseline FILE`` the full
verification is used instead (:func:`scripts.failover.validation.failover_validator`,
chosen by :func:`scripts.failover.site_validation.resolve_validator`; docs/verify.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests

from scripts.errors import WaitTimeout
from scripts.polling import Clock, Verdict, poll_until

DEFAULT_TIMEOUT_S = 5.0


@dataclass
class ProbeResult:
    url: str
    ok: bool
    status: int | None
    elapsed_s: float
    error: str | None = None
    body: Any = None

    def summary(self) -> str:
        if self.error:
            return f"{self.url}: {self.error}"
        return f"{self.url}: HTTP {self.status} in {self.elapsed_s * 1000:.0f} ms"


def http_get(url: str, *, timeout: float = DEFAULT_TIMEOUT_S, want_json: bool = False) -> ProbeResult:
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        reason = type(exc).__name__
        if isinstance(exc, requests.ConnectionError):
            reason = "connection failed"
        elif isinstance(exc, requests.Timeout):
            reason = f"no answer within {timeout:.0f} s"
        return ProbeResult(url, False, None, 0.0, reason)
    body = None
    if want_json:
        try:
            body = response.json()
        except ValueError:
            body = None
    return ProbeResult(
        url,
        200 <= response.status_code < 300,
        response.status_code,
        response.elapsed.total_seconds(),
        None,
        body,
    )


def site_url(host: str, path: str, scheme: str = "https") -> str:
    return f"{scheme}://{host}{path if path.startswith('/') else '/' + path}"


def discovery_url(host: str, issuer: str, scheme: str = "https") -> str:
    """The issuer's discovery document, fetched from a site's own hostname (before DNS moves)."""
    path = urlparse(issuer).path.rstrip("/")
    return site_url(host, f"{path}/.well-known/openid-configuration", scheme)


@dataclass
class ValidationCheck:
    name: str
    ok: bool | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationContext:
    """What a validator needs to judge one site."""

    site: str  # "dr" | "primary"
    host: str
    health_path: str
    issuer: str
    scheme: str = "https"
    timeout_s: float = 600.0
    interval_s: float = 5.0
    clock: Clock = field(default_factory=Clock)
    on_update: Callable[[str], None] | None = None
    baseline: str | None = None
    outputs: Any = None

    @classmethod
    def of_site(cls, outputs: Any, site: str, **options: Any) -> ValidationContext:
        """The context for ``site`` ("dr" or "primary") of a stack: its health hostname, the stack's
        health path and issuer; ``options`` are the other fields (scheme, timeout_s, clock …)."""
        dns = outputs.dns
        host = dns.drHealthHostname if site == "dr" else dns.primaryHealthHostname
        return cls(site=site, host=host, health_path=dns.healthPath, issuer=outputs.issuer, outputs=outputs, **options)


Validator = Callable[[ValidationContext], list[ValidationCheck]]


def wait_ready(ctx: ValidationContext, *, get: Callable[..., ProbeResult] = http_get) -> ValidationCheck:
    """Poll ``https://{host}{healthPath}`` (what Route 53 probes) until 2xx or ``ctx.timeout_s``.

    Returns the ``<site>.readiness`` check: ok when the site answered 2xx in time.
    """
    url = site_url(ctx.host, ctx.health_path, ctx.scheme)
    seen: list[ProbeResult] = []

    def fetch() -> ProbeResult:
        seen.append(get(url))
        return seen[-1]

    def judge(result: ProbeResult) -> Verdict[ProbeResult]:
        return Verdict("done" if result.ok else "wait", f"readiness {result.summary()}", result)

    # A site that never answers is a failed check, not an error: the timeout ends the wait quietly.
    with contextlib.suppress(WaitTimeout):
        poll_until(
            fetch,
            judge,
            interval=ctx.interval_s,
            timeout=ctx.timeout_s,
            clock=ctx.clock,
            what=f"{ctx.site} readiness",
            on_update=ctx.on_update,
        )
    ready, attempts = seen[-1], len(seen)
    return ValidationCheck(
        f"{ctx.site}.readiness",
        ready.ok,
        ready.summary(),
        {"url": url, "status": ready.status, "attempts": attempts},
    )


def readiness_validator(ctx: ValidationContext, *, get: Callable[..., ProbeResult] = http_get) -> list[ValidationCheck]:
    """Wait for readiness (pods are starting), then compare the issuer once."""
    ready = wait_ready(ctx, get=get)
    checks = [ready]
    disc_url = discovery_url(ctx.host, ctx.issuer, ctx.scheme)
    if not ready.ok:
        checks.append(
            ValidationCheck(f"{ctx.site}.issuer", None, "not checked: the site is not ready", {"url": disc_url})
        )
        return checks
    discovery = get(disc_url, want_json=True)
    found = discovery.body.get("issuer") if isinstance(discovery.body, dict) else None
    ok = discovery.ok and found == ctx.issuer
    message = (
        f"issuer {found!r} equals the production issuer"
        if ok
        else f"issuer {found!r}, expected {ctx.issuer!r}"
        if discovery.ok
        else discovery.summary()
    )
    checks.append(ValidationCheck(f"{ctx.site}.issuer", ok, message, {"url": disc_url, "issuer": found}))
    return checks
