"""The controls a trusted research environment needs (issue 13), on the session's real API server with the webhook,
OPA and the operator in place, and policy data that sets entitlements and session limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyternetes import kube
from jupyternetes.dev import components
from jupyternetes.dev.cluster import HUB, OFFICER, LocalCluster
from tests.support import policies, processes
from tests.support.stacks import Stack, webhook_stack

IMAGE = "quay.io/jupyter/base-notebook:2026-11-16"
NAMESPACE = "default"  # the hub's namespace, where instances live
#: The policy data of these tests, merged over the shipped data.
TRE_DATA: dict[str, Any] = {
    "entitlements": {"rules": [
        {"templates": ["kadense/tre-open", "kadense/tre-changing", "kadense/tre-short"], "users": ["*"]},
        {"templates": ["kadense/tre-gpu-*"], "groups": ["gpu-researchers"]},
        {"templates": ["kadense/tre-gpu-a100"], "users": ["ada"]},
    ]},
    "sessions": {"max_seconds": 28800, "templates": {"kadense/tre-short": 20, "kadense/tre-gpu-*": 7200}},
}


@pytest.fixture(scope="package")
def stack(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with webhook_stack(cluster, policies.with_data(tmp_path_factory.mktemp("tre") / "policies", TRE_DATA)) as running:
        yield running


@pytest.fixture(scope="package")
def operator(cluster: LocalCluster, stack: Stack, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[processes.Component]:
    with processes.operator(cluster, Path(tmp_path_factory.mktemp("operator")),
                            sealing_key_file=str(components.sealing_keys(cluster)[0])) as component:
        yield component


@pytest.fixture(scope="package")
def hub(cluster: LocalCluster, stack: Stack) -> Iterator[kube.Kube]:
    with cluster.kube(HUB) as client:
        yield client


@pytest.fixture(scope="package")
def officer(cluster: LocalCluster, stack: Stack) -> Iterator[kube.Kube]:
    with cluster.kube(OFFICER) as client:
        yield client


def template(name: str, **pod_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
            "metadata": {"name": name, "namespace": "kadense"},
            "spec": {"pods": [{"name": "notebook", "spec": {
                "containers": [{"name": "notebook", "image": IMAGE, "args": ["--ip=0.0.0.0"],
                                "ports": [{"name": "http", "containerPort": 8888}]}], **pod_spec}}]}}


def instance(name: str, template_name: str, user: str = "jovyan", groups: str = "[]") -> dict[str, Any]:
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"template": {"name": template_name, "namespace": "kadense"},
                     "variables": {"jupyterhub.user.name": user, "jupyterhub.user.id": "7",
                                   "jupyterhub.user.groups": groups}}}


def store(officer: kube.Kube, body: dict[str, Any]) -> dict[str, Any]:
    """Store a template as the officer (through the mutating and validating webhooks), replacing an earlier one."""
    try:
        return officer.create(body)
    except kube.Conflict:
        return officer.apply(body, field_manager="tre-tests")


@pytest.fixture(scope="package", autouse=True)
def forget_entitlements() -> Iterator[None]:
    """The spawner keeps the entitlements it read for a while: these tests must not see what other tests' spawners
    read (none published, say), nor other tests these."""
    from jupyternetes.spawner import JupyternetesSpawner

    JupyternetesSpawner._entitlements.clear()
    yield
    JupyternetesSpawner._entitlements.clear()
