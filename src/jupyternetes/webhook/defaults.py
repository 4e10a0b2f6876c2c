"""Secure defaults that the mutating webhook fills in where a pod spec leaves them unset.

Only unset fields are filled, so applying the defaults twice changes nothing, and nothing is ever loosened: an
explicit value (even an unsafe one) is left for the validating checks to refuse, with a message that says why.
Each change is reported, and the webhook passes the list on as admission warnings.

Defaults: seccomp `RuntimeDefault` and `runAsNonRoot: true` on the pod; `allowPrivilegeEscalation: false` and
capabilities `drop: [ALL]` on every container; `automountServiceAccountToken: false` on the pod (the notebook has no
business talking to the Kubernetes API); resource limits from the policy data where a container has none; and the
template's session limit (`activeDeadlineSeconds`, policy data `sessions`) where a template's pod sets no deadline.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jupyternetes import quantity, sessions
from jupyternetes.webhook.floor import CONTAINER_LISTS, is_windows

SERVICE_ACCOUNT_MOUNT: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_VOLUME_PREFIX: Final = "kube-api-access-"


@dataclass(frozen=True)
class PodDefaults:
    """What to fill in. `limits` maps a resource name (cpu, memory) to the limit set where a container has none."""

    limits: Mapping[str, str] = field(default_factory=dict)
    #: The session limit to fill in as `activeDeadlineSeconds` (templates only: see `jupyternetes.sessions`).
    active_deadline_seconds: int | None = None


def apply(spec: Mapping[str, Any], defaults: PodDefaults, path: str = "spec",
          in_place: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The pod spec with the defaults filled in (a copy, unless `in_place` and `spec` is a dict the caller owns), and
    a sentence for each change made."""
    out = spec if in_place and isinstance(spec, dict) else copy.deepcopy(dict(spec))
    changes: list[str] = []
    sc = out.setdefault("securityContext", {})
    if not isinstance(sc, dict):
        return dict(spec), []
    # Kubernetes forbids seccomp, privilege escalation and capabilities on Windows pods (and Pod Security Admission
    # exempts them from those checks): nothing of those is filled in there.
    windows = is_windows(out)
    if "seccompProfile" not in sc and not windows:
        sc["seccompProfile"] = {"type": "RuntimeDefault"}
        changes.append(f"{path}.securityContext.seccompProfile.type: set to RuntimeDefault")
    explicit_root = any(
        isinstance(c, Mapping) and isinstance(c.get("securityContext"), Mapping)
        and c["securityContext"].get("runAsNonRoot") is False
        for name in CONTAINER_LISTS for c in out.get(name) or []
    )
    if "runAsNonRoot" not in sc and not explicit_root:
        sc["runAsNonRoot"] = True
        changes.append(f"{path}.securityContext.runAsNonRoot: set to true")
    if defaults.active_deadline_seconds is not None and "activeDeadlineSeconds" not in out:
        out["activeDeadlineSeconds"] = defaults.active_deadline_seconds
        changes.append(f"{path}.activeDeadlineSeconds: set to {defaults.active_deadline_seconds} (the session limit "
                       f"of {sessions.describe(defaults.active_deadline_seconds)})")
    if "automountServiceAccountToken" not in out:
        out["automountServiceAccountToken"] = False
        changes.append(f"{path}.automountServiceAccountToken: set to false")
        changes += _drop_service_account_token(out, path)
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(out.get(list_name) or []):
            if isinstance(container, dict):
                changes += _container(container, defaults, f"{path}.{list_name}[{index}]",
                                      limits=list_name != "ephemeralContainers", windows=windows)
    return out, changes


def _container(container: dict[str, Any], defaults: PodDefaults, path: str, limits: bool,
               windows: bool = False) -> list[str]:
    changes: list[str] = []
    if windows:
        return changes + _limits(container, defaults, path) if limits else changes
    sc = container.setdefault("securityContext", {})
    if not isinstance(sc, dict):
        return changes
    if "allowPrivilegeEscalation" not in sc:
        sc["allowPrivilegeEscalation"] = False
        changes.append(f"{path}.securityContext.allowPrivilegeEscalation: set to false")
    caps = sc.setdefault("capabilities", {})
    if isinstance(caps, dict):
        drop = caps.get("drop")
        if not isinstance(drop, list):
            caps["drop"] = ["ALL"]
            changes.append(f"{path}.securityContext.capabilities.drop: set to [ALL]")
        elif "ALL" not in drop:
            caps["drop"] = [*drop, "ALL"]
            changes.append(f"{path}.securityContext.capabilities.drop: added ALL")
    if limits:
        changes += _limits(container, defaults, path)
    return changes


def _limits(container: dict[str, Any], defaults: PodDefaults, path: str) -> list[str]:
    """The policy data's default limits where the container sets none."""
    changes: list[str] = []
    if defaults.limits:
        resources = container.setdefault("resources", {})
        if isinstance(resources, dict):
            current = resources.setdefault("limits", {})
            requests = resources.get("requests") or {}
            if isinstance(current, dict):
                for name, value in defaults.limits.items():
                    if name in current:
                        continue
                    chosen = value
                    request = requests.get(name) if isinstance(requests, Mapping) else None
                    if request is not None and _greater(request, value):
                        chosen = request  # a limit below the request would be refused by the API server
                    current[name] = chosen
                    changes.append(f"{path}.resources.limits.{name}: set to {chosen}")
    return changes


def _greater(a: Any, b: Any) -> bool:
    try:
        return quantity.parse(a) > quantity.parse(b)
    except ValueError:
        return False


def _drop_service_account_token(spec: dict[str, Any], path: str) -> list[str]:
    """Remove the token volume that the ServiceAccount admission plugin injected before automount was turned off."""
    volumes = spec.get("volumes") or []
    injected = {v.get("name") for v in volumes if isinstance(v, Mapping)
                and str(v.get("name", "")).startswith(SERVICE_ACCOUNT_VOLUME_PREFIX) and "projected" in v}
    if not injected:
        return []
    spec["volumes"] = [v for v in volumes if not (isinstance(v, Mapping) and v.get("name") in injected)]
    for list_name in CONTAINER_LISTS:
        for container in spec.get(list_name) or []:
            if isinstance(container, dict) and container.get("volumeMounts"):
                container["volumeMounts"] = [m for m in container["volumeMounts"]
                                             if not (isinstance(m, Mapping) and m.get("name") in injected)]
    return [f"{path}.volumes: removed the service-account token volume {', '.join(sorted(injected))}"]
