"""The identity providers a user can be known by, and the rules of an external id.

There is the built-in provider (id ``__slingr__``, name ``slingr``: the app's own email and password) and the
ones the ``IDENTITY_PROVIDERS`` setting names, a comma list of ``name`` or ``name:Label``
(``google:Google,okta:Okta SSO``); a configured provider's id is its name. Nothing else is accepted, so a
mistyped name is a 400 rather than a provider nobody set up. A user's entry of a configured provider carries
an external id (the user's id at that provider), unique among the users of that provider; the built-in one
carries none. Password login does not look at a user's providers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BUILTIN_ID = "__slingr__"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EXTERNAL_ID_MAX = 255
SETTING = "IDENTITY_PROVIDERS"


@dataclass(frozen=True)
class IdentityProvider:
    id: str
    name: str
    label: str

    @property
    def builtin(self) -> bool:
        return self.id == BUILTIN_ID

    def render(self, external_id: str | None) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "label": self.label, "externalId": external_id}


BUILTIN = IdentityProvider(BUILTIN_ID, "slingr", "Slingr")
DEFAULT_ENTRIES = ({"id": BUILTIN_ID, "externalId": None},)  # what a user stored without the field has


def external_key(provider_id: str, external_id: str) -> str:
    """The stored, uniquely indexed form of one external id (``sys.users.externalIds``). Provider ids hold no
    ``:``, so the key names one (provider, external id) pair."""
    return f"{provider_id}:{external_id}"


def external_id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an external id: it must be reachable as one path segment of one user."""
    if not isinstance(value, str) or not value.strip():
        return "externalId is the user's id at the identity provider, a non-empty text"
    if len(value) > EXTERNAL_ID_MAX or "/" in value or "," in value:
        return f"externalId has at most {EXTERNAL_ID_MAX} characters and no '/' or ','"
    return None


class IdentityProviders:
    """The providers of this app, found by id or by name."""

    def __init__(self, configured: Iterable[str] = ()):
        self.all: list[IdentityProvider] = [BUILTIN]
        for entry in configured:
            name, _, label = entry.partition(":")
            name, label = name.strip(), label.strip()
            if not NAME_RE.match(name):
                raise SystemExit(f"{SETTING}: '{entry}' is not name[:Label] with a name of letters, digits, '_' "
                                 "and '-'")
            if self.find(name) is not None:
                raise SystemExit(f"{SETTING}: '{name}' is named twice or is the built-in provider")
            self.all.append(IdentityProvider(name, name, label or name))

    def find(self, ref: str) -> IdentityProvider | None:
        """By id first, then by name."""
        return next((p for p in self.all if p.id == ref), None) or next((p for p in self.all if p.name == ref), None)

    def render(self, entries: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """A user's stored entries as the user JSON shows them; a provider no longer configured shows its id."""
        out = []
        for entry in entries or DEFAULT_ENTRIES:
            provider = self.find(entry["id"]) or IdentityProvider(entry["id"], entry["id"], entry["id"])
            out.append(provider.render(entry.get("externalId")))
        return out
