"""A Keycloak realm's configuration, exported through the admin API, normalised, and compared.

**Export**: the realm's representation plus its clients, client scopes, roles, groups, authentication
flows, identity providers and components, each read with a GET of the admin API (no users, no
credentials), as a client holding only view roles.

**Normalise**, so that two exports of an unchanged realm are byte for byte the same:

* generated identifiers and timestamps are removed (``id``, ``containerId``, ``createdTimestamp``, …);
* every value under a secret-looking key is masked again (``**********``), whatever Keycloak sent, so no
  secret can reach the reference file or a diff;
* lists are sorted (lists of objects by their identity: ``clientId``, ``name``, ``alias``, …, then by
  content). Order that matters to Keycloak is carried by fields (an execution's ``priority``), not by
  position.

**Compare**: the two documents flattened to paths that name what changed, e.g.
``clients[clientId=portal].redirectUris``, as added, removed and changed entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scripts.errors import ExternalError

MASK = "**********"
#: Removed everywhere: generated on every import or change, not configuration.
VOLATILE_KEYS = frozenset(
    {"id", "containerId", "createdTimestamp", "notBefore", "lastUpdated", "_id", "client.secret.creation.time"}
)
#: A key naming a secret (lower-cased, as a substring): its value is masked.
SECRET_WORDS = ("secret", "password", "privatekey", "credential", "token", "certificate")
#: What names an object in a list, in order of preference.
IDENTITY_KEYS = ("clientId", "alias", "name", "username", "providerId", "flowAlias", "authenticator", "realm")


def export_realm(api: Any, realm: str) -> dict[str, Any]:
    """The realm's configuration, read with GET calls only (``api``: an authenticated admin API client).

    Keycloak's own ``partial-export`` needs ``manage-realm``, a role that can change the realm; a drift
    audit must not hold it. These reads need the view roles in :data:`ROLES` only.
    """
    doc = _json(api, f"/realms/{realm}")
    if not isinstance(doc, dict) or doc.get("realm") != realm:
        raise ExternalError(f"keycloak: GET /admin/realms/{realm} is not realm {realm!r}'s representation")
    for key, path in PARTS.items():
        doc[key] = _json(api, f"/realms/{realm}{path}")
    doc["roles"] = {"realm": _json(api, f"/realms/{realm}/roles", params={"briefRepresentation": "false"})}
    return doc


#: The realm-management roles the reads need: view roles only, nothing that can change the realm.
ROLES = ("view-realm", "view-clients", "view-users", "view-identity-providers")
#: The parts of a realm's configuration the realm representation does not carry, and where they are read.
PARTS = {
    "clients": "/clients",
    "clientScopes": "/client-scopes",
    "groups": "/groups",
    "authenticationFlows": "/authentication/flows",
    "identityProviders": "/identity-provider/instances",
    "components": "/components",
}


def _json(api: Any, path: str, **kwargs: Any) -> Any:
    response = api.request("GET", path, **kwargs)
    try:
        return response.json()
    except ValueError:
        raise ExternalError(f"keycloak: GET /admin{path} did not answer JSON") from None


def normalise(value: Any, key: str = "") -> Any:
    """The stable, secret-free form of an export (see the module docstring)."""
    if _is_secret(key) and value not in (None, "", [], {}):
        return MASK if not isinstance(value, (dict, list)) else _mask_all(value)
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in sorted(value.items()) if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        items = [normalise(v, key) for v in value]
        return sorted(items, key=_sort_key)
    return value


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _mask_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [MASK for _ in value]
    return MASK


def _sort_key(item: Any) -> tuple[str, str]:
    if isinstance(item, dict):
        return (_identity(item) or "", json.dumps(item, sort_keys=True))
    return ("", json.dumps(item, sort_keys=True))


def _identity(item: dict[str, Any]) -> str | None:
    for key in IDENTITY_KEYS:
        if isinstance(item.get(key), str):
            return f"{key}={item[key]}"
    return None


def render(doc: dict[str, Any]) -> str:
    """The reference file's text: normalised, sorted keys, two-space indent, a final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass
class Drift:
    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        """One line per difference, by path: ``+`` only now, ``-`` only in the reference, ``~`` changed."""
        out = [f"+ {path}: {_short(v)}" for path, v in sorted(self.added.items())]
        out += [f"- {path}: {_short(v)}" for path, v in sorted(self.removed.items())]
        out += [f"~ {path}: {_short(old)} -> {_short(new)}" for path, (old, new) in sorted(self.changed.items())]
        return sorted(out, key=lambda line: line[2:])


def compare(reference: dict[str, Any], current: dict[str, Any]) -> Drift:
    before, after = flatten(reference), flatten(current)
    drift = Drift()
    for path in before.keys() | after.keys():
        if path not in after:
            drift.removed[path] = before[path]
        elif path not in before:
            drift.added[path] = after[path]
        elif before[path] != after[path]:
            drift.changed[path] = (before[path], after[path])
    return drift


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves by path; list items that name themselves (``clientId``, ``name`` …) get that name in the path,
    lists of plain values stay one leaf (their order is not configuration)."""
    if isinstance(value, dict):
        if not value:
            return {path: {}}
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(flatten(child, f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for index, child in enumerate(value):
            name = _identity(child) or f"#{index}"
            out.update(flatten(child, f"{path}[{name}]"))
        return out
    return {path: value}


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."
