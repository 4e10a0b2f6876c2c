"""Breach drills run against the session's real API server with the dev RBAC (the chart's, by test) and the
webhook, OPA and the operator in place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import components
from jupyternetes.dev.cluster import HUB, OFFICER, LocalCluster
from tests.security.drills import IMAGE, TEMPLATE
from tests.support import processes
from tests.support.stacks import Stack, webhook_stack


@pytest.fixture(scope="package")
def stack(cluster: LocalCluster) -> Iterator[Stack]:
    with webhook_stack(cluster) as running:
        yield running


@pytest.fixture(scope="package")
def operator(cluster: LocalCluster, stack: Stack, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[processes.Component]:
    with processes.operator(cluster, Path(tmp_path_factory.mktemp("operator")),
                            sealing_key_file=str(components.sealing_keys(cluster)[0])) as component:
        yield component


@pytest.fixture(scope="package", autouse=True)
def defences(stack: Stack) -> Stack:
    """Every drill runs with the webhook registered, as in a real deployment."""
    return stack


@pytest.fixture(scope="package")
def hub(cluster: LocalCluster) -> Iterator[kube.Kube]:
    with cluster.kube(HUB) as client:
        yield client


@pytest.fixture(scope="package")
def drill_template(cluster: LocalCluster, stack: Stack) -> dict[str, Any]:
    """An approved template, stored by a security officer, that puts a user-controlled variable into an
    annotation, an environment variable, a mount path and a command-line argument."""
    template = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                "metadata": {"name": TEMPLATE, "namespace": cluster.config.template_namespace},
                "spec": {"pods": [{"name": "notebook", "annotations": {"user": "{jupyterhub.user.name}"}, "spec": {
                    "containers": [{"name": "notebook", "image": IMAGE, "command": ["jupyterhub-singleuser"],
                                    "args": ["--ip=0.0.0.0", "--notebook-dir=/home/{jupyterhub.user.name}"],
                                    "env": [{"name": "JUPYTERHUB_USER", "value": "{jupyterhub.user.name}"}],
                                    "volumeMounts": [{"name": "home", "mountPath": "/home/{jupyterhub.user.name}"}],
                                    "ports": [{"name": "http", "containerPort": 8888}]}],
                    "volumes": [{"name": "home", "emptyDir": {}}]}}]}}
    done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=yaml.safe_dump(template))
    assert done.returncode == 0, done.stderr
    return template


