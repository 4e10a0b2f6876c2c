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


