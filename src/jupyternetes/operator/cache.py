"""In-memory copies of the objects the operator watches, kept current by watch events.

Reconciling reads from here instead of asking the API server, which keeps the calls per instance few and bounded.
A copy can lag behind the server for a moment; that is safe because every write is a create of a deterministic name
(the server refuses a duplicate) or a status write computed from the latest copy.

Objects of kinds the operator does not watch (the instance's Secret, other resources) are kept here too, with the
time they were last read, but only as a hint: no watch tells the cache that they are gone, so the reconciler reads
them again by name (see `reconcile.Reconciler._observe`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jupyternetes import constants

InstanceKey = tuple[str, str]
ObjectKey = tuple[str, str, str]


def _key(body: Mapping[str, Any]) -> InstanceKey:
    meta = body["metadata"]
    return meta.get("namespace") or "", meta["name"]


def _resource_version(body: Mapping[str, Any] | None) -> int:
    try:
        return int((body or {}).get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


class Cache:
    def __init__(self) -> None:
        self.instances: dict[InstanceKey, dict[str, Any]] = {}
        self.templates: dict[InstanceKey, dict[str, Any]] = {}
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self._read_at: dict[ObjectKey, float] = {}
        self._read_by_owner: dict[str, set[ObjectKey]] = {}

    # Instances and templates -----------------------------------------------------------------------------------

    def put_instance(self, body: dict[str, Any]) -> InstanceKey:
        key = _key(body)
        self.instances[key] = body
        return key

    def put_instance_if_newer(self, body: dict[str, Any]) -> None:
        """Store a body we wrote ourselves unless the watch already brought something newer."""
        key = _key(body)
        if _resource_version(body) >= _resource_version(self.instances.get(key)):
            self.instances[key] = body

    def drop_instance(self, body: Mapping[str, Any]) -> InstanceKey:
        key = _key(body)
        self.instances.pop(key, None)
        return key

    def put_template(self, body: dict[str, Any]) -> None:
        self.templates[_key(body)] = body

    def drop_template(self, body: Mapping[str, Any]) -> None:
        self.templates.pop(_key(body), None)

    def instances_using(self, template: Mapping[str, Any]) -> list[InstanceKey]:
        """Instances that refer to `template` (scans all instances; templates change rarely)."""
        namespace, name = _key(template)
        return [
            key for key, body in self.instances.items()
            if (body.get("spec") or {}).get("template", {}).get("name") == name
            and ((body.get("spec") or {}).get("template", {}).get("namespace") or key[0]) == namespace
        ]

    # Rendered objects ------------------------------------------------------------------------------------------

    def get_object(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    @staticmethod
    def _object_key(body: Mapping[str, Any]) -> ObjectKey:
        meta = body["metadata"]
        return body.get("kind", ""), meta.get("namespace") or "", meta["name"]

    def put_object(self, body: dict[str, Any], *, read: bool = False) -> None:
        """Store an object from a watch event, or (`read`) one just read or created, noting when."""
        key = self._object_key(body)
        if _resource_version(body) >= _resource_version(self.objects.get(key)):
            self.objects[key] = body
        if read:
            self._read_at[key] = time.monotonic()
            for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
                self._read_by_owner.setdefault(str(ref.get("uid")), set()).add(key)

    def drop_object(self, body: Mapping[str, Any]) -> None:
        self.forget_object(*self._object_key(body))

    def forget_object(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)
        self._read_at.pop((kind, namespace, name), None)

    def age(self, body: Mapping[str, Any]) -> float:
        """Seconds since the object was last read or created by the operator itself (infinite if never)."""
        read_at = self._read_at.get(self._object_key(body))
        return float("inf") if read_at is None else time.monotonic() - read_at

    def forget_read_objects_of(self, instance: Mapping[str, Any], watched: frozenset[str]) -> None:
        """Drop the copies of unwatched objects that were read for an instance that is now gone (no watch would
        ever remove them)."""
        uid = str((instance.get("metadata") or {}).get("uid"))
        for key in self._read_by_owner.pop(uid, set()):
            if key[0] not in watched:
                self.forget_object(*key)

    @staticmethod
    def owner_of(body: Mapping[str, Any]) -> InstanceKey | None:
        """The instance a rendered object belongs to, from the annotation that carries its full name."""
        meta = body.get("metadata") or {}
        name = (meta.get("annotations") or {}).get(constants.ANNOTATION_INSTANCE_NAME)
        return (meta.get("namespace") or "", name) if name else None
