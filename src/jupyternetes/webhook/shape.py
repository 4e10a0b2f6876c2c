"""The shape of what the webhook reads from an object: the types Kubernetes guarantees for objects it stores.

The API server only sends objects that passed its own validation, so these never fail in a cluster. A review from
anywhere else (a test, a fuzzer, a confused client) may carry anything; each part of the wrong type is named here and
the object is refused, instead of the webhook failing on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

_POD_LISTS: Final = ("containers", "initContainers", "ephemeralContainers", "volumes", "tolerations",
                     "imagePullSecrets")
_CONTAINER_LISTS: Final = ("env", "envFrom", "ports", "volumeMounts")


def _is_string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _list_of_objects(value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, list):
        yield f"{path}: must be a list"
        return
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            yield f"{path}[{index}]: must be an object"


def metadata_problems(obj: Mapping[str, Any]) -> Iterator[str]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        yield "metadata: must be an object"
        return
    for field in ("name", "namespace", "generateName", "uid"):
        if field in meta and not isinstance(meta[field], str):
            yield f"metadata.{field}: must be a string"
    for field in ("labels", "annotations"):
        if meta.get(field) is not None and not _is_string_map(meta[field]):
            yield f"metadata.{field}: must map strings to strings"
    if meta.get("ownerReferences") is not None:
        yield from _list_of_objects(meta["ownerReferences"], "metadata.ownerReferences")
    if meta.get("finalizers") is not None and not (
            isinstance(meta["finalizers"], list) and all(isinstance(f, str) for f in meta["finalizers"])):
        yield "metadata.finalizers: must be a list of strings"


def problems(obj: Mapping[str, Any], kind: str) -> list[str]:
    """Every part of `obj` (a Pod, PVC, Secret, Service or ConfigMap) that the webhook reads and that does not have
    the type Kubernetes gives it."""
    found = list(metadata_problems(obj))
    if "spec" in obj and not isinstance(obj["spec"], Mapping):
        found.append("spec: must be an object")
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    if kind == "Pod":
        for field in _POD_LISTS:
            if spec.get(field) is not None:
                found += _list_of_objects(spec[field], f"spec.{field}")
        for list_name in ("containers", "initContainers", "ephemeralContainers"):
            for index, container in enumerate(spec.get(list_name) or [] if isinstance(spec.get(list_name), list)
                                               else []):
                if not isinstance(container, Mapping):
                    continue
                for field in _CONTAINER_LISTS:
                    if container.get(field) is not None:
                        found += _list_of_objects(container[field], f"spec.{list_name}[{index}].{field}")
                for field in ("securityContext", "resources"):
                    if container.get(field) is not None and not isinstance(container[field], Mapping):
                        found.append(f"spec.{list_name}[{index}].{field}: must be an object")
        if spec.get("securityContext") is not None and not isinstance(spec["securityContext"], Mapping):
            found.append("spec.securityContext: must be an object")
    if kind in ("Secret", "ConfigMap"):
        for field in ("data", "stringData", "binaryData"):
            if obj.get(field) is not None and not _is_string_map(obj[field]):
                found.append(f"{field}: must map strings to strings")
        if "type" in obj and not isinstance(obj["type"], str):
            found.append("type: must be a string")
    return found
