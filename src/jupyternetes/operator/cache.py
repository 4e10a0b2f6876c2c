"""In-memory copies of the objects the operator watches, kept current by watch events.

Reconciling reads from here instead of asking the API server, which keeps the calls per instance few and bounded.
A copy can lag behind the server for a moment; that is safe because every write is a create of a deterministic name
(the server refuses a duplicate) or a status write computed from the latest copy. Only watched kinds are kept here
(instances, templates, pods, PVCs): nothing would tell the cache that an unwatched object is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from jupyternetes import constants

InstanceKey = tuple[str, str]
ObjectKey = tuple[str, str, str]

#: Written by kubectl apply: a whole copy of the object, which nothing here reads.
_LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"


def slim(body: dict[str, Any]) -> dict[str, Any]:
    """The object without what the operator never reads, so that 1,000 servers cost little memory: managedFields and
    kubectl's last-applied copy on every kind, and of a pod's spec all but what its status needs (each container's
    name and ports, and activeDeadlineSeconds). A shallow copy where it differs; `body` itself is not changed."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if "managedFields" in meta or _LAST_APPLIED in annotations:
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        if _LAST_APPLIED in annotations:
            meta["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
        body = {**body, "metadata": meta}
    if body.get("kind") == "Pod" and isinstance(body.get("spec"), dict):
        spec = body["spec"]
        kept: dict[str, Any] = {"containers": [{k: c[k] for k in ("name", "ports") if k in c}
                                               for c in spec.get("containers") or [] if isinstance(c, dict)]}
        if "activeDeadlineSeconds" in spec:
            kept["activeDeadlineSeconds"] = spec["activeDeadlineSeconds"]
        body = {**body, "spec": kept}
    return body


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

    # Instances and templates -----------------------------------------------------------------------------------

    def put_instance(self, body: dict[str, Any]) -> InstanceKey:
        """Store an instance from the watch; a late event for an older instance of the same name (deleted and made
        again, the events handled out of order) never replaces the newer one."""
        key = _key(body)
        cached = self.instances.get(key)
        if cached is not None and _uid(cached) != _uid(body) and \
                _resource_version(cached) > _resource_version(body):
            return key
        self.instances[key] = slim(body)
        return key

    def put_instance_if_newer(self, body: dict[str, Any]) -> None:
        """Store a body we wrote ourselves unless the watch already brought something newer."""
        key = _key(body)
        if _resource_version(body) >= _resource_version(self.instances.get(key)):
            self.instances[key] = slim(body)

    def drop_instance(self, body: Mapping[str, Any]) -> InstanceKey | None:
        """Forget a deleted instance; returns its key, or None when the name already belongs to a newer instance
        (its deletion arrived after the newer one's creation), which stays."""
        key = _key(body)
        cached = self.instances.get(key)
        if cached is not None and _uid(cached) != _uid(body):
            return None
        self.instances.pop(key, None)
        return key

    def put_template(self, body: dict[str, Any]) -> None:
        self.templates[_key(body)] = slim(body)

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

    def put_object(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (body.get("kind", ""), meta.get("namespace") or "", meta["name"])
        if _resource_version(body) >= _resource_version(self.objects.get(key)):
            self.objects[key] = slim(body)

    def drop_object(self, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        self.objects.pop((body.get("kind", ""), meta.get("namespace") or "", meta["name"]), None)

    @staticmethod
    def owner_of(body: Mapping[str, Any]) -> InstanceKey | None:
        """The instance a rendered object belongs to, from the annotation that carries its full name."""
        meta = body.get("metadata") or {}
        name = (meta.get("annotations") or {}).get(constants.ANNOTATION_INSTANCE_NAME)
        return (meta.get("namespace") or "", name) if name else None


def _uid(body: Mapping[str, Any] | None) -> str | None:
    return ((body or {}).get("metadata") or {}).get("uid")
