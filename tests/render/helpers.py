from __future__ import annotations

from typing import Any

from jupyternetes import models


def template(pods: list[dict[str, Any]] | None = None, pvcs: list[dict[str, Any]] | None = None,
             others: list[dict[str, Any]] | None = None, name: str = "tpl", namespace: str = "templates"
             ) -> models.Template:
    return models.parse_template({
        "apiVersion": "kadense.io/v1",
        "kind": "JupyterNotebookTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"pods": pods or [], "pvcs": pvcs or [], "otherResources": others or []},
    })


def instance(variables: dict[str, str] | None = None, name: str = "inst", namespace: str = "users"
             ) -> models.Instance:
    return models.parse_instance({
        "apiVersion": "kadense.io/v1",
        "kind": "JupyterNotebookInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"name": "tpl", "namespace": "templates"}, "variables": variables or {}},
    })


def pod_entry(spec: dict[str, Any], name: str = "notebook", labels: dict[str, str] | None = None,
              annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "labels": labels or {}, "annotations": annotations or {}, "spec": spec}


def one_container(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "notebook", "image": "registry.example/notebook:1", **fields}]}
