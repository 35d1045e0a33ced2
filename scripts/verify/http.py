"""HTTP for the checks: timeouts on every call, one-line reasons instead of tracebacks.

A server that is down, hung or answering garbage must turn into a failed
check with evidence, never a crash: :meth:`Http.get_json` and friends return
an :class:`HttpResult` whose ``error`` says what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from scripts import __version__

USER_AGENT = f"idp-dr-verify/{__version__}"


@dataclass
class HttpResult:
    url: str
    status: int | None = None
    body: Any = None
    text: str = ""
    error: str | None = None
    elapsed_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "http_status": self.status}
        if self.elapsed_ms is not None:
            out["elapsed_ms"] = self.elapsed_ms
        if self.error:
            out["error"] = self.error
        return out

    def reason(self) -> str:
        """Why this is not a usable answer, in a few words."""
        if self.error:
            return self.error
        if self.status is not None and not 200 <= self.status < 300:
            return f"HTTP {self.status}"
        return "ok"


class Http:
    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def request(self, method: str, url: str, *, want_json: bool = True, **kwargs: Any) -> HttpResult:
        result = HttpResult(url=url)
        try:
            response = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.exceptions.ConnectTimeout:
            result.error = f"no connection within {self.timeout:g} s"
            return result
        except requests.exceptions.Timeout:
            result.error = f"no answer within {self.timeout:g} s"
            return result
        except requests.exceptions.ConnectionError as exc:
            result.error = _connection_reason(exc)
            return result
        except requests.RequestException as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            return result
        result.status = response.status_code
        result.elapsed_ms = int(response.elapsed.total_seconds() * 1000)
        result.text = response.text[:2000]
        if want_json and response.content:
            try:
                result.body = response.json()
            except ValueError:
                if 200 <= response.status_code < 300:
                    result.error = "the answer is not JSON"
        return result

    def get_json(self, url: str, **kwargs: Any) -> HttpResult:
        return self.request("GET", url, **kwargs)

    def post_form(self, url: str, data: dict[str, str], **kwargs: Any) -> HttpResult:
        return self.request("POST", url, data=data, **kwargs)


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "NameResolution" in text:
        return "host name does not resolve"
    if "SSLError" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS handshake failed (certificate not trusted?)"
    return "cannot connect"


def join(base_url: str, path: str) -> str:
    """``base_url`` (possibly with a path prefix) + an absolute path."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def rebase(public_url: str, base_url: str) -> str:
    """Reach a URL the discovery document names at its public host through ``base_url``'s host.

    The discovery document advertises public URLs (https://sso.example.com/...);
    a standby that is not behind DNS yet is reached elsewhere (an internal load
    balancer, 127.0.0.1:8080). The path is kept, scheme and host come from ``base_url``.
    """
    public = urlsplit(public_url)
    base = urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, public.path, public.query, ""))
