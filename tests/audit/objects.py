"""Templates, instances and pods for the audit's tests."""

from __future__ import annotations

from typing import Any

ALLOWED_IMAGE = "quay.io/jupyter/base-notebook:2026-11-16"
#: A repository the tests' base policies allow and the shipped ones do not: removing it is the tightening.
RETIRED_REPOSITORY = "registry.example.org/audit/*"
RETIRED_IMAGE = "registry.example.org/audit/notebook:1"


def template(name: str, namespace: str, image: str = ALLOWED_IMAGE, uid: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate", "metadata": meta,
            "spec": {"pods": [{"name": "notebook", "spec": {
                "containers": [{"name": "notebook", "image": image, "args": ["--ip=0.0.0.0"],
                                "ports": [{"name": "http", "containerPort": 8888}]}]}}]}}


def instance(name: str, namespace: str, template_name: str, template_namespace: str = "", user: str = "ada",
             groups: str = '["researchers"]', uid: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance", "metadata": meta,
            "spec": {"template": {"name": template_name, "namespace": template_namespace or namespace},
                     "variables": {"jupyterhub.user.name": user, "jupyterhub.user.id": "7",
                                   "jupyterhub.user.groups": groups}}}
