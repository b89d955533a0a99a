"""Who may do what: a caller's groups, compiled into per-entity policies.

A ``Caller`` is made once per request (or per job run) from the user's groups as they are now: the group
documents (with their ``version``) are read on every request, so a permission change applies to the next
request of every process. Compiled policies are cached per (group ids and versions, entity name and
version); a request sees one consistent set of rules from its start to its end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from bson import ObjectId

from core.errors import Forbidden
from core.storage import Store
from entities.metadata import Entity
from entities.permissions.policy import API_FLAGS, UNRESTRICTED, EntityPolicy, compile_policy

GROUPS = "sys.groups"
USERS = "sys.users"
CACHE_SIZE = 2048


class Permissions:
    def __init__(self, store: Store):
        self.store = store
        self.groups = store.collection(GROUPS)
        self.users = store.collection(USERS)
        self._cache: OrderedDict[tuple[Any, ...], EntityPolicy] = OrderedDict()
        self._groups: dict[tuple[Any, Any], dict[str, Any]] = {}  # (group id, version) → its document
        self._lock = threading.Lock()

    def caller(self, user: dict[str, Any], groups: list[dict[str, Any]] | None = None) -> Caller:
        """The permissions of ``user`` (a ``sys.users`` document or the guard's user info). ``groups``: the
        user's group documents as read just now along with the token (``groups_lookup``), when they were."""
        if user.get("developer"):
            return Caller(self, user, None)
        if groups is None:
            ids = [g["id"] if isinstance(g, dict) else g for g in user.get("groups") or []]
            ids = [ObjectId(i) if isinstance(i, str) and ObjectId.is_valid(i) else i for i in ids]
            groups = self._group_documents(ids)
        return Caller(self, user, sorted(groups, key=lambda d: d["_id"]))

    @staticmethod
    def groups_lookup(local_field: str, into: str) -> dict[str, Any]:
        """A ``$lookup`` stage bringing the group documents whose ids are at ``local_field`` (``{id: ...}``
        entries) along with another read: the guard reads the token and its user's groups in one round trip."""
        return {"$lookup": {"from": GROUPS, "localField": f"{local_field}.id", "foreignField": "_id", "as": into}}

    def _group_documents(self, ids: list[Any]) -> list[dict[str, Any]]:
        """The groups' ``permissions`` as of their current ``version``: each request reads only the versions;
        a group's document is read again only when its version changed (cached per id and version)."""
        if not ids:
            return []
        docs: list[dict[str, Any]] = []
        stale: list[Any] = []
        versions = self.store.read_cached(GROUPS, ("versions", *map(str, ids)),
                                          lambda: list(self.groups.find({"_id": {"$in": ids}}, {"version": 1})))
        for v in versions:
            found = self._groups.get((v["_id"], v.get("version")))
            if found is None:
                stale.append(v["_id"])
            else:
                docs.append(found)
        if stale:
            for doc in self.groups.find({"_id": {"$in": stale}}, {"version": 1, "permissions": 1}):
                with self._lock:
                    if len(self._groups) >= CACHE_SIZE:
                        self._groups.clear()
                    self._groups[(doc["_id"], doc.get("version"))] = doc
                docs.append(doc)
        return docs

    def caller_by_id(self, user_id: str | None, developer: bool) -> Caller:
        """For a job run by a user: their permissions as they are when the job runs."""
        if developer or not user_id or not ObjectId.is_valid(user_id):
            return Caller(self, {"developer": True}, None)
        user = self.users.find_one({"_id": ObjectId(user_id)}, {"email": 1, "groups": 1, "developer": 1})
        return self.caller(user or {"_id": ObjectId(user_id), "groups": []})

    def _policy(self, key: tuple[Any, ...], build: Any) -> EntityPolicy:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        policy = build()
        with self._lock:
            self._cache[key] = policy
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return policy


class Caller:
    """One user's permissions. ``groups`` is None for a developer (never restricted)."""

    def __init__(self, permissions: Permissions, user: dict[str, Any], groups: list[dict[str, Any]] | None):
        self._permissions = permissions
        self.user = user
        self.groups = groups
        self._policies: dict[str, EntityPolicy] = {}

    @property
    def restricted(self) -> bool:
        return self.groups is not None

    def api(self, flag: str) -> bool:
        """The ``api`` flag across the groups (``data``, ``files``, ``uploadFiles``, ``jobs``)."""
        assert flag in API_FLAGS
        if self.groups is None:
            return True
        return any(((g.get("permissions") or {}).get("api") or {}).get(flag) is True for g in self.groups)

    def require_api(self, flag: str, what: str) -> None:
        if not self.api(flag):
            raise Forbidden(f"Your groups do not allow the {what} API")

    def entity(self, entity: Entity) -> EntityPolicy:
        if self.groups is None:
            return UNRESTRICTED
        policy = self._policies.get(entity.name)
        if policy is None:
            user_key = (str(self.user.get("_id")), self.user.get("email"))
            key = (tuple((str(g["_id"]), g.get("version")) for g in self.groups), entity.name, entity.version,
                   user_key)
            policy = self._permissions._policy(
                key, lambda: compile_policy(entity, self._documents(entity.name), self.user, self._documents))
            self._policies[entity.name] = policy
        return policy

    def _documents(self, entity_name: str) -> list[dict[str, Any]]:
        """The groups' ``entities.<name>`` documents (a policy depends on nothing else of the groups)."""
        docs = [((g.get("permissions") or {}).get("entities") or {}).get(entity_name) for g in self.groups or []]
        return [d for d in docs if isinstance(d, dict)]
