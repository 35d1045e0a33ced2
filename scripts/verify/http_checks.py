"""What the HTTP side of an IdP shows: readiness, discovery, the JWKS and a client-credentials token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from scripts.report import Report
from scripts.verify.base import IdpAdapter
from scripts.verify.http import Http, HttpResult, join, rebase
from scripts.verify.model import (
    Baseline,
    ClientCredentials,
    Target,
)

#: Signature algorithms a token may use. Symmetric (HS*) and "none" are refused: a
#: JWKS cannot vouch for them.
ASYMMETRIC_ALGS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)


@dataclass
class JwksView:
    result: HttpResult
    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    keyset: KeySet | None = None
    unusable: list[dict[str, Any]] = field(default_factory=list)
    #: The jwks_uri the discovery document advertises (None: it was not readable).
    advertised: str | None = None

    def evidence(self) -> dict[str, Any]:
        out = {**self.result.evidence(), "keys": self.keys}
        if self.advertised:
            out["jwks_uri"] = self.advertised
        if self.unusable:
            out["unusable_keys"] = self.unusable
        return out

    @property
    def kids(self) -> list[str]:
        return sorted({k["kid"] for k in self.keys if k.get("kid")})

    @property
    def signing_kids(self) -> list[str]:
        return sorted(
            {
                k["kid"]
                for k in self.keys
                if k.get("kid") and k.get("use", "sig") == "sig" and k.get("kty") in ("RSA", "EC", "OKP")
            }
        )


@dataclass
class TokenView:
    ok: bool
    message: str
    evidence: dict[str, Any]
    access_token: str | None = None
    kid: str | None = None
    claims: dict[str, Any] | None = None
    signature_ok: bool = False


def fetch_discovery(http: Http, adapter: IdpAdapter, target: Target) -> HttpResult:
    return http.get_json(adapter.discovery_url(target))


def _endpoint(discovery: HttpResult, key: str, target: Target, fallback_path: str) -> tuple[str, str | None]:
    """(URL to call, URL the discovery document advertises)."""
    advertised = discovery.body.get(key) if discovery.ok and isinstance(discovery.body, dict) else None
    if isinstance(advertised, str) and advertised:
        return rebase(advertised, target.base_url), advertised
    return join(target.base_url, fallback_path), None


def fetch_jwks(http: Http, adapter: IdpAdapter, target: Target, discovery: HttpResult) -> JwksView:
    url, advertised = _endpoint(discovery, "jwks_uri", target, adapter.fallback_jwks_path(target))
    result = http.get_json(url)
    view = JwksView(result=result, url=url, advertised=advertised)
    if not result.ok or not isinstance(result.body, dict) or not isinstance(result.body.get("keys"), list):
        return view
    usable = []
    for key in result.body["keys"]:
        if not isinstance(key, dict):
            continue
        view.keys.append({k: key.get(k) for k in ("kid", "kty", "alg", "use", "crv") if key.get(k)})
        try:
            KeySet.import_key_set({"keys": [key]})
            usable.append(key)
        except (JoseError, ValueError, TypeError) as exc:
            view.unusable.append({"kid": key.get("kid"), "error": str(exc)})
    if usable:
        view.keyset = KeySet.import_key_set({"keys": usable})
    return view


def request_token(
    http: Http,
    adapter: IdpAdapter,
    target: Target,
    discovery: HttpResult,
    client: ClientCredentials,
    jwks: JwksView,
) -> TokenView:
    url, advertised = _endpoint(discovery, "token_endpoint", target, adapter.fallback_token_path(target))
    data = {"grant_type": "client_credentials"}
    scope = getattr(adapter, "token_scope", None)
    if scope:
        data["scope"] = scope
    result = http.post_form(url, data, auth=(client.client_id, client.client_secret))
    evidence: dict[str, Any] = {**result.evidence(), "client_id": client.client_id}
    if advertised:
        evidence["token_endpoint"] = advertised
    body = result.body if isinstance(result.body, dict) else {}
    if not result.ok or not isinstance(body.get("access_token"), str):
        oauth_error = body.get("error")
        if oauth_error:
            evidence["oauth_error"] = oauth_error
            if body.get("error_description"):
                evidence["oauth_error_description"] = str(body["error_description"])[:200]
        why = f"{result.reason()}" + (f" ({oauth_error})" if oauth_error else "")
        return TokenView(False, f"no client-credentials token for {client.client_id}: {why}", evidence)
    access_token = body["access_token"]
    try:
        header = extract_compact(access_token.encode()).headers()
    except (JoseError, ValueError) as exc:
        return TokenView(False, f"the access token is not a signed JWT ({exc})", evidence, access_token=access_token)
    kid, alg = header.get("kid"), header.get("alg")
    evidence.update(kid=kid, alg=alg, expires_in=body.get("expires_in"))
    view = TokenView(False, "", evidence, access_token=access_token, kid=kid)
    if alg not in ASYMMETRIC_ALGS:
        view.message = f"the token is signed with {alg!r}; only asymmetric algorithms can be checked against a JWKS"
        return view
    if jwks.keyset is None:
        view.message = f"no usable key in the JWKS ({jwks.result.reason()}) to check the token's signature"
        return view
    try:
        decoded = jwt.decode(access_token, jwks.keyset, algorithms=[alg])
    except InvalidKeyIdError:
        view.message = f"the token is signed with key {kid!r}, which the JWKS does not publish"
        return view
    except BadSignatureError:
        view.message = f"the token's signature does not verify against the JWKS key {kid!r}"
        return view
    except JoseError as exc:
        view.message = f"the token could not be verified: {exc}"
        return view
    claims = dict(decoded.claims)
    view.claims = {k: claims.get(k) for k in ("iss", "azp", "aud", "sub", "iat", "exp") if k in claims}
    evidence["claims"] = view.claims
    try:
        jwt.JWTClaimsRegistry(leeway=60).validate(claims)
    except (ExpiredTokenError, InvalidClaimError) as exc:
        view.message = f"the token's signature verifies, but its time claims do not: {exc}"
        return view
    view.ok = view.signature_ok = True
    view.message = f"signed by {kid} ({alg}), verified against the JWKS"
    return view


def ready_reason(result: HttpResult) -> str:
    if result.error:
        return result.error
    if isinstance(result.body, dict) and result.body.get("status"):
        down = [
            c.get("name") for c in result.body.get("checks") or [] if isinstance(c, dict) and c.get("status") != "UP"
        ]
        return f"HTTP {result.status}, status {result.body['status']}" + (f" ({', '.join(down)})" if down else "")
    return f"HTTP {result.status}"


def check_baseline_overlap(report: Report, baseline: Baseline | None, jwks: JwksView) -> None:
    if baseline is None:
        report.check("jwks.baseline_overlap", None, "no --baseline: no key IDs to compare with")
        return
    now = set(jwks.signing_kids)
    before = set(baseline.signing_kids)
    kept = sorted(before & now)
    evidence = {
        "baseline_signing_kids": sorted(before),
        "signing_kids": sorted(now),
        "kept": kept,
        "missing": sorted(before - now),
        "new": sorted(now - before),
        "baseline_token_kid": baseline.token_kid,
    }
    if not jwks.result.ok:
        report.check("jwks.baseline_overlap", False, "no JWKS to compare with the baseline", **evidence)
    elif not kept:
        report.check(
            "jwks.baseline_overlap",
            False,
            f"none of the baseline's {len(before)} signing keys is published any more: tokens issued "
            "before the restore no longer validate",
            **evidence,
        )
    elif baseline.token_kid and baseline.token_kid not in now:
        report.check(
            "jwks.baseline_overlap",
            False,
            f"the key that signed tokens at baseline time ({baseline.token_kid}) is no longer published",
            **evidence,
        )
    else:
        report.check(
            "jwks.baseline_overlap",
            True,
            f"{len(kept)} of the baseline's {len(before)} signing keys still published"
            + (f", including the one that signed tokens ({baseline.token_kid})" if baseline.token_kid else ""),
            **evidence,
        )
