"""Single-field rules of the stack config, as types: each states its constraint and, once, its words.

A field's type carries what it accepts (``Field(ge=…, le=…)``, a ``Literal``, a pattern or a
format check) and an :class:`Allowed` text. That text is the refusal's ``<what is allowed>``
(``invalid idp-dr:<key> <value>: <allowed>``) and the configuration reference's "allowed" column,
so the two cannot drift apart.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from contract.versions import version_tuple  # noqa: F401 - part of the rules (sections use it)


class Allowed:
    """What a field accepts, in the words of its refusal; shown as ``x-allowed`` in the JSON schema."""

    def __init__(self, text: str):
        self.text = text

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["x-allowed"] = self.text
        return json_schema


def int_range(lo: int, hi: int, allowed: str | None = None, *, unit: str | None = None) -> Any:
    """An integer from ``lo`` to ``hi``; the words default to "an integer [number of <unit>] from lo to hi"."""
    of = f" number of {unit}" if unit else ""
    text = allowed or f"an integer{of} from {lo} to {hi}"
    return Annotated[int, Field(ge=lo, le=hi), Allowed(text)]


def one_of(*values: Any, allowed: str | None = None) -> Any:
    """One of ``values`` (a ``Literal``); the words default to "one of 'a', 'b'"."""
    text = allowed or "one of " + ", ".join(repr(v) for v in values)
    return Annotated[Literal[values], Allowed(text)]


def checked(check: Callable[[Any], bool], allowed: str, base: Any = str) -> Any:
    """A value ``check`` accepts (for formats a pattern cannot say); refused with ``allowed``."""

    def validate(value: Any) -> Any:
        if not check(value):
            raise ValueError(allowed)
        return value

    return Annotated[base, AfterValidator(validate), Allowed(allowed)]


def matching(pattern: str, allowed: str) -> Any:
    """A string matching ``pattern`` (Python regex, whole string)."""
    compiled = re.compile(pattern)
    return checked(lambda v: bool(compiled.fullmatch(v)), allowed)


def allowed_text(annotation: Any) -> str | None:
    """The :class:`Allowed` words inside an annotation (also inside ``X | None``)."""
    for item in getattr(annotation, "__metadata__", ()):
        if isinstance(item, Allowed):
            return item.text
    for arg in getattr(annotation, "__args__", ()) or ():
        found = allowed_text(arg)
        if found:
            return found
    return None


# -- formats --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def known_regions() -> dict[str, str]:
    """AWS region code -> partition, from the installed botocore's endpoint data."""
    import botocore.session

    session = botocore.session.get_session()
    regions: dict[str, str] = {}
    for partition in session.get_available_partitions():
        for region in session.get_available_regions("rds", partition_name=partition):
            regions[region] = partition
    return regions


REGION_ALLOWED = "an AWS region code where RDS exists, e.g. eu-west-1"


def _region(value: str) -> str:
    regions = known_regions()
    if value not in regions:
        close = difflib.get_close_matches(value, list(regions), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(REGION_ALLOWED + hint)
    return value


Region = Annotated[str, AfterValidator(_region), Allowed(REGION_ALLOWED)]

KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$")
KmsKeyArn = matching(
    KMS_KEY_ARN_RE.pattern,
    "a KMS key ARN, e.g. arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _bucket_ok(value: str) -> bool:
    return bool(
        _BUCKET_RE.match(value)
        and ".." not in value
        and not re.match(r"^\d+\.\d+\.\d+\.\d+$", value)
        and not value.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        and not value.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    )


BucketName = checked(
    _bucket_ok,
    "an S3 bucket name: 3-63 characters of lowercase letters, digits, dots and hyphens, "
    "starting and ending with a letter or digit, not an IP address",
)
Hostname = matching(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    "a lowercase DNS name without scheme or path, e.g. sso.example.com",
)
UrlPath = checked(
    lambda v: bool(v) and v.startswith("/") and " " not in v and "://" not in v,
    "an absolute URL path starting with '/', e.g. /health/ready",
)
FilePath = matching(r"/[A-Za-z0-9_./-]{1,250}", "an absolute path in the image: letters, digits, '_', '.', '-', '/'")
Slug = matching(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", "letters, digits, '.', '_' and '-', starting with a letter or digit"
)
PgIdentifier = checked(
    lambda v: bool(re.fullmatch(r"[a-z][a-z0-9_]{0,62}", v)) and v not in ("postgres", "rdsadmin", "admin", "public"),
    "a lowercase PostgreSQL identifier (letters, digits, '_'; max 63) other than postgres, rdsadmin, admin, public",
)
StackName = matching(
    r"[a-z][a-z0-9-]{1,20}", "2-21 characters: lowercase letters, digits and '-', starting with a letter"
)
InstanceClass = matching(r"db\.[a-z0-9]+\.[a-z0-9]+", "an RDS instance class starting with 'db.', e.g. db.m6g.large")
ArchiveName = matching(
    r"[a-z0-9][a-z0-9._-]{0,63}", "a key prefix of lowercase letters, digits, '.', '_', '-' (no slashes)"
)

_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
IMAGE_ALLOWED = "a container image reference, e.g. quay.io/keycloak/keycloak:26.4.5"


def parse_image(value: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of a pinned image reference; ValueError naming what is allowed."""
    match = _IMAGE_RE.match(value)
    if not match:
        raise ValueError(IMAGE_ALLOWED)
    tag, digest = match.group("tag"), match.group("digest")
    if tag == "latest":
        raise ValueError(
            "a pinned image: a version tag or an @sha256 digest, not 'latest' (both regions must run "
            "the exact same build)"
        )
    if not tag and not digest:
        raise ValueError("a pinned image: add a version tag or an @sha256 digest (no tag means 'latest')")
    return match.group("repo"), tag, digest


def _image(value: str) -> str:
    parse_image(value)
    return value


Image = Annotated[str, AfterValidator(_image), Allowed("a pinned container image: a version tag or an @sha256 digest")]


def _private_cidrs(never_open: str) -> Callable[[list[str]], list[str]]:
    """A validator of private CIDR lists; ``never_open`` names what must never be open to the internet."""

    def check(value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one CIDR, e.g. 10.0.0.0/16")
        for cidr in value:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"CIDR blocks such as 10.0.0.0/16 ({cidr!r} is not one)") from None
            if net.prefixlen == 0:
                raise ValueError(f"private CIDR blocks, not 0.0.0.0/0 ({never_open} is never open to all)")
            if not _private(net):
                raise ValueError(
                    f"private CIDR blocks (RFC 1918, 100.64.0.0/10 or IPv6 ULA); {cidr!r} reaches the internet "
                    f"({never_open} is never open to it)"
                )
        return value

    return check


#: Where a cluster's nodes and pods live: never the internet (0.0.0.0/1 + 128.0.0.0/1 is all of it).
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def _private(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(net.version == p.version and net.subnet_of(p) for p in _PRIVATE_NETWORKS)  # type: ignore[arg-type]


_PRIVATE_CIDRS_ALLOWED = "private CIDR blocks such as 10.0.0.0/16 (RFC 1918, 100.64.0.0/10, ULA)"
CidrList = Annotated[list[str], AfterValidator(_private_cidrs("the database")), Allowed(_PRIVATE_CIDRS_ALLOWED)]
#: Where a load balancer's connections to the IdP come from (an ALB in IP mode: its VPC subnets).
ProxyCidrList = Annotated[
    list[str], AfterValidator(_private_cidrs("the IdP's trusted proxy range")), Allowed(_PRIVATE_CIDRS_ALLOWED)
]


def _tags(value: dict[str, str]) -> dict[str, str]:
    """AWS's tag rules: at most 50 per resource (we add up to 5 of our own), key <= 128, value <= 256,
    no 'aws:' prefix, letters, digits, spaces and _.:/=+-@ only."""
    if len(value) > 45:
        raise ValueError(f"at most 45 tags (AWS allows 50 per resource; idp-dr adds its own); got {len(value)}")
    for key, tag_value in value.items():
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise ValueError(
                f"tag keys of 1-128 letters, digits, spaces and _.:/=+-@, not starting with 'aws:' ({key!r} is not one)"
            )
        if not isinstance(tag_value, str) or not _TAG_VALUE.fullmatch(tag_value):
            raise ValueError(f"tag values of 0-256 letters, digits, spaces and _.:/=+-@ ({key!r} has another)")
    return value


_TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}")
_TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")
Tags = Annotated[
    dict[str, str], AfterValidator(_tags), Allowed("AWS tags: at most 45, keys <= 128 and values <= 256 chars")
]

_SUBNET_RE = re.compile(r"subnet-[0-9a-f]{8,17}")
SubnetIds = checked(
    lambda v: len(v) >= 2 and all(_SUBNET_RE.fullmatch(s) for s in v),
    "at least two subnet IDs (e.g. subnet-0123456789abcdef0) in different AZs",
    base=list[str],
)

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


def _emails(value: list[str]) -> list[str]:
    for email in value:
        if not _EMAIL_RE.match(email):
            raise ValueError(f"e-mail addresses ({email!r} is not one)")
    return value


EmailList = Annotated[list[str], AfterValidator(_emails), Allowed("e-mail addresses")]
