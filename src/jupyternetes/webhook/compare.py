"""Does a pod or PVC under admission equal what its instance's template renders?

The live object is the rendering plus what the API server adds before admission: field defaults (from Kubernetes'
own defaulting of core/v1), requests copied from limits, the service account name, the default tolerations, and (only
when the pod asks for a token) the service-account token volume. Anything else, a different value, an extra field
or an extra list item, is a difference. Quantities compare by amount (`1` equals `1000m`); empty values compare equal
to missing ones, as the API server omits them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from jupyternetes import quantity

_INDEX = re.compile(r"\[\d+\]")
_ANY: Final = object()

_PROBES: Final = ("livenessProbe", "readinessProbe", "startupProbe")
_CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
_SA_VOLUME_PREFIX: Final = "kube-api-access-"
#: Finalizers that admission plugins add (StorageObjectInUseProtection protects PVCs that pods use).
_SERVER_FINALIZERS: Final[dict[str, set[str]]] = {"PersistentVolumeClaim": {"kubernetes.io/pvc-protection"}}
_DEFAULT_TOLERATIONS: Final = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)


def _pull_policy(container: Mapping[str, Any]) -> str:
    """The API server's default imagePullPolicy: Always for `:latest` or a bare name (which means latest), else
    IfNotPresent; an image pinned by digest alone has no tag, so it is IfNotPresent."""
    name, _, digest = str(container.get("image", "")).partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ("" if digest else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def _defaults() -> dict[str, dict[str, Any]]:
    """Normalised path (indices as [*]) -> field -> the value the API server fills in (or _ANY)."""
    table: dict[str, dict[str, Any]] = {
        "spec": {"dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
                 "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
                 "enableServiceLinks": True, "serviceAccountName": "default", "serviceAccount": "default",
                 "priority": _ANY, "preemptionPolicy": "PreemptLowerPriority", "volumeMode": "Filesystem",
                 "storageClassName": _ANY},
    }
    for containers in _CONTAINER_LISTS:
        c = f"spec.{containers}[*]"
        table[c] = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "resources": {}, "imagePullPolicy": _pull_policy}
        table[f"{c}.ports[*]"] = {"protocol": "TCP"}
        table[f"{c}.env[*].valueFrom.fieldRef"] = {"apiVersion": "v1"}
        table[f"{c}.env[*].valueFrom.fileKeyRef"] = {"optional": False}
        for probe in _PROBES:
            table[f"{c}.{probe}"] = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                     "failureThreshold": 3}
            table[f"{c}.{probe}.httpGet"] = {"path": "/", "scheme": "HTTP"}
            table[f"{c}.{probe}.grpc"] = {"service": ""}
        for hook in ("postStart", "preStop"):
            table[f"{c}.lifecycle.{hook}.httpGet"] = {"path": "/", "scheme": "HTTP"}
    for source in ("configMap", "secret", "downwardAPI", "projected"):
        table[f"spec.volumes[*].{source}"] = {"defaultMode": 420}
    table["spec.volumes[*].projected.sources[*].serviceAccountToken"] = {"expirationSeconds": 3600}
    table["spec.volumes[*].downwardAPI.items[*].fieldRef"] = {"apiVersion": "v1"}
    table["spec.volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef"] = {"apiVersion": "v1"}
    return table


DEFAULTS: Final = _defaults()
#: What the API server fills in on a Service (type ClusterIP is all the admission policy lets the operator create).
SERVICE_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "spec": {"clusterIP": _ANY, "clusterIPs": _ANY, "type": "ClusterIP", "sessionAffinity": "None",
             "ipFamilies": _ANY, "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
    "spec.ports[*]": {"protocol": "TCP", "targetPort": _ANY},
}
#: Top-level fields that are not the object's content.
_NOT_CONTENT: Final = frozenset({"apiVersion", "kind", "metadata", "status"})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


_QUANTITY_PATH = re.compile(r"\.resources\.(limits|requests)\.[^.]+$")


def _is_quantity_path(path: str) -> bool:
    return ".resources." in path and bool(_QUANTITY_PATH.search(path))


@functools.lru_cache(maxsize=4096)
def _normalised(path: str) -> str:
    return _INDEX.sub("[*]", path)


class _Differ:
    def __init__(self, defaults: Mapping[str, Mapping[str, Any]] = DEFAULTS) -> None:
        self.problems: list[str] = []
        self.defaults = defaults

    def value(self, expected: Any, live: Any, path: str) -> None:
        if isinstance(expected, dict):
            if not isinstance(live, dict):
                self.problems.append(f"{path}: expected an object, found {type(live).__name__}")
                return
            self.mapping(expected, live, path)
        elif isinstance(expected, list):
            if not isinstance(live, list) or len(live) != len(expected):
                count = len(live) if isinstance(live, list) else "not a list"
                self.problems.append(f"{path}: expected {len(expected)} items, found {count}")
                return
            for index, (a, b) in enumerate(zip(expected, live, strict=True)):
                self.value(a, b, f"{path}[{index}]")
        elif _is_quantity_path(path) and not isinstance(expected, bool):
            if not quantity.equal(expected, live):
                self.problems.append(f"{path}: expected {expected!r}, found {live!r}")
        elif expected != live and not (_empty(expected) and _empty(live)):
            if _private(path):
                self.problems.append(f"{path}: differs from the rendering (the values are not shown)")
            else:
                self.problems.append(f"{path}: expected {expected!r}, found {live!r}")

    def mapping(self, expected: Mapping[str, Any], live: Mapping[str, Any], path: str) -> None:
        defaults = self.defaults.get(_normalised(path), {})
        for key, value in expected.items():
            if key in live:
                self.value(value, live[key], f"{path}.{key}")
            elif not _empty(value):
                self.problems.append(f"{path}.{key}: missing")
        for key in live.keys() - expected.keys():
            allowed = defaults.get(key, None)
            if allowed is None and key not in defaults:
                if not _empty(live[key]):
                    shown = "" if _private(f"{path}.{key}") else f" ({_short(live[key])})"
                    self.problems.append(f"{path}.{key}: not in the rendering{shown}")
                continue
            if allowed is _ANY:
                continue
            if isinstance(allowed, Callable):  # type: ignore[arg-type]
                allowed = allowed(live)
            if live[key] != allowed:
                self.problems.append(f"{path}.{key}: {_short(live[key])} is not the API server's default")


#: Paths whose values may be secrets (a ConfigMap's or Secret's data, environment values): a difference there is
#: named, never quoted, since refusals reach the instance's status, Events and the decision records.
_PRIVATE = re.compile(r"^(data|binaryData|stringData)(\.|\[|$)|\.env\[\d+\]\.value$")


def _private(path: str) -> bool:
    return _PRIVATE.search(path) is not None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _strip_server_additions(expected: Mapping[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """Remove from `live` what the API server adds on top of a pod spec, where the rendering did not ask for it."""
    live = {**live}
    if expected.get("automountServiceAccountToken") is not False:
        injected = {v.get("name") for v in live.get("volumes") or []
                    if str(v.get("name", "")).startswith(_SA_VOLUME_PREFIX) and "projected" in v}
        injected -= {v.get("name") for v in expected.get("volumes") or []}
        if injected:
            live["volumes"] = [v for v in live.get("volumes") or [] if v.get("name") not in injected]
            if not live["volumes"] and "volumes" not in expected:
                del live["volumes"]
            for list_name in _CONTAINER_LISTS:
                containers = []
                for container in live.get(list_name) or []:
                    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") not in injected]
                    container = {**container, "volumeMounts": mounts}
                    if not mounts:
                        del container["volumeMounts"]
                    containers.append(container)
                if list_name in live:
                    live[list_name] = containers
    tolerations = [t for t in live.get("tolerations") or [] if t not in _DEFAULT_TOLERATIONS
                   or t in (expected.get("tolerations") or [])]
    if "tolerations" in live:
        live["tolerations"] = tolerations
        if not tolerations and "tolerations" not in expected:
            del live["tolerations"]
    # Requests default to limits on a pod.
    for list_name in ("containers", "initContainers"):
        for e_container, l_container in zip(expected.get(list_name) or [], live.get(list_name) or [], strict=False):
            limits = (e_container.get("resources") or {}).get("limits") or {}
            requests = dict(((e_container.get("resources") or {}).get("requests")) or {})
            live_resources = l_container.get("resources") or {}
            live_requests = live_resources.get("requests") or {}
            copied = {k: v for k, v in live_requests.items()
                      if k not in requests and k in limits and quantity.equal(v, limits[k])}
            if copied:
                remaining = {k: v for k, v in live_requests.items() if k not in copied}
                new_resources = {**live_resources, "requests": remaining}
                if not remaining:
                    del new_resources["requests"]
                l_container["resources"] = new_resources
    return live


def differences(expected: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Every way `live` (a Pod or PVC) differs from `expected` beyond what the API server adds; empty if none."""
    differ = _Differ()
    e_meta, l_meta = expected.get("metadata") or {}, live.get("metadata") or {}
    for field in ("name", "namespace"):
        if e_meta.get(field) != l_meta.get(field):
            differ.problems.append(f"metadata.{field}: expected {e_meta.get(field)!r}, found {l_meta.get(field)!r}")
    for field in ("labels", "annotations"):
        if (e_meta.get(field) or {}) != (l_meta.get(field) or {}):
            differ.problems.append(f"metadata.{field}: expected {e_meta.get(field) or {}}, found "
                                   f"{l_meta.get(field) or {}}")
    if l_meta.get("generateName"):
        differ.problems.append("metadata.generateName: not in the rendering")
    extra_finalizers = set(l_meta.get("finalizers") or []) - _SERVER_FINALIZERS.get(str(expected.get("kind")), set())
    if extra_finalizers:
        differ.problems.append(f"metadata.finalizers: {sorted(extra_finalizers)} not in the rendering")
    kind = expected.get("kind")
    if kind not in ("Pod", "PersistentVolumeClaim", "Service"):
        # Everything else (a ConfigMap) is compared field by field, with no defaults.
        content = _Differ({})
        for key in sorted((expected.keys() | live.keys()) - _NOT_CONTENT):
            if key in expected and key in live:
                content.value(expected[key], live[key], key)
            elif not _empty(expected.get(key)) or not _empty(live.get(key)):
                content.problems.append(f"{key}: {'missing' if key in expected else 'not in the rendering'}")
        return differ.problems + content.problems
    e_spec = dict(expected.get("spec") or {})
    l_spec = live.get("spec") if isinstance(live.get("spec"), dict) else {}
    if kind == "Pod":
        l_spec = {k: ([dict(c) for c in v] if k in _CONTAINER_LISTS and isinstance(v, list) else v)
                  for k, v in l_spec.items()}
        l_spec = _strip_server_additions(e_spec, l_spec)
    spec_differ = _Differ(SERVICE_DEFAULTS if kind == "Service" else DEFAULTS)
    spec_differ.value(e_spec, l_spec, "spec")
    return differ.problems + spec_differ.problems


def owner_problems(live: Mapping[str, Any], instance_uid: str) -> list[str]:
    """Owner references must point at the instance (or be absent, for PVCs kept beyond their instance)."""
    problems = []
    for ref in (live.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("uid") != instance_uid or ref.get("kind") != "JupyterNotebookInstance":
            problems.append(f"metadata.ownerReferences: {ref.get('kind')} {ref.get('name')} is not the instance")
    return problems


