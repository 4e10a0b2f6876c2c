"""What the breach drills share: the hub's namespace, an approved template, and small helpers."""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = "default"  # the hub's namespace under the local control plane
TEMPLATE = "drill-template"
IMAGE = "quay.io/jupyter/base-notebook:2026-11-16"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def instance(name: str, template: str = TEMPLATE, template_namespace: str = "kadense",
              **variables: str) -> dict[str, Any]:
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"template": {"name": template, "namespace": template_namespace},
                     "variables": {"jupyterhub.user.name": "jovyan", "jupyterhub.user.id": "1",
                                   "jupyternetes.instance.name": name, "jupyternetes.instance.namespace": NAMESPACE,
                                   **variables}}}




POLICY_PREFIX = "ValidatingAdmissionPolicy '"
WEBHOOK_PREFIX = 'admission webhook "'


def refused_by(message: str) -> str:
    """Which layer refused a request, from the API server's message: `policy:<name>`, `webhook:<name>` or `rbac`.

    A test that expects a refusal asserts this, so that a refusal for another reason (another layer, or a layer
    that is down) cannot pass it."""
    if POLICY_PREFIX in message:
        return "policy:" + message.split(POLICY_PREFIX, 1)[1].split("'", 1)[0]
    if WEBHOOK_PREFIX in message and "denied the request" in message:
        return "webhook:" + message.split(WEBHOOK_PREFIX, 1)[1].split('"', 1)[0]
    if "cannot " in message and ("User " in message or "forbidden" in message):
        return "rbac"
    return "unknown: " + message[:200]
