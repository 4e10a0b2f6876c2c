"""Stand-ins for OPA and the API server, for testing the webhook's HTTP layer and judge without a cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyternetes.webhook import policy
from jupyternetes.webhook.policy import PolicyUnavailable, PolicyViolation


class FixedEngine:
    def __init__(self, violations: list[PolicyViolation] | None = None, fail: str | None = None) -> None:
        self.violations_ = violations or []
        self.fail = fail
        self.documents: list[Mapping[str, Any]] = []

    async def violations(self, document: Mapping[str, Any]) -> list[PolicyViolation]:
        self.documents.append(document)
        if self.fail:
            raise PolicyUnavailable(self.fail)
        return list(self.violations_)


class DictLookup:
    def __init__(self, instances: dict[tuple[str, str], dict[str, Any]] | None = None,
                 templates: dict[tuple[str, str], dict[str, Any]] | None = None,
                 pods: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.instances = instances or {}
        self.templates = templates or {}
        self.pods = pods or {}

    async def instance(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.instances.get((namespace, name))

    async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.templates.get((namespace, name))

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods.get((namespace, name))

    async def instances_using(self, namespace: str, name: str) -> list[str]:
        return sorted(f"{ns}/{n}" for (ns, n), body in self.instances.items()
                      if body["spec"]["template"]["name"] == name
                      and body["spec"]["template"].get("namespace", ns) == namespace)


def data(**config: Any) -> policy.PolicyData:
    base: dict[str, Any] = {"images": {"allowed": ["quay.io/jupyter/*"]},
                            "resources": {"default_limits": {"cpu": "2", "memory": "4Gi"}},
                            "variables": {"sensitive": ["jupyterhub.api_token"]}}
    base.update(config)
    return policy.PolicyData({"jupyternetes": {"config": base}})


def review(resource: str, obj: dict[str, Any] | None, *, operation: str = "CREATE", user: str = "someone",
           old: dict[str, Any] | None = None, uid: str = "1234", namespace: str = "default",
           dry_run: bool = False) -> dict[str, Any]:
    group = "kadense.io" if resource.startswith("jupyternotebook") else ""
    version = "v1"
    kind = {"jupyternotebooktemplates": "JupyterNotebookTemplate", "jupyternotebookinstances":
            "JupyterNotebookInstance", "pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim"}.get(
        resource, "Thing")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "namespace": namespace, "name": (obj or {}).get("metadata", {}).get("name", ""),
        "operation": operation, "userInfo": {"username": user, "groups": ["system:authenticated"]},
        "object": obj, "oldObject": old, "dryRun": dry_run}}
