"""The project's own images, built here from its `Dockerfile` (and OPA's from the pinned binary), run on the real
node as the chart runs them: by digest, non-root, with a read-only root filesystem and the restricted profile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import images
from jupyternetes.dev import node as node_mod

REASON = node_mod.why_not()
pytestmark = [pytest.mark.cluster, pytest.mark.real_node,
              pytest.mark.skipif(REASON is not None, reason=f"no real node on this machine: {REASON}")]


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[cluster_mod.LocalCluster, node_mod.RealNode]]:
    with cluster_mod.running(cluster_mod.ClusterConfig(nodes=0, real_node=True)) as local:
        real = node_mod.RealNode(local)
        real.start()
        try:
            for recipe in (images.project_recipe(), images.opa_recipe()):
                real.import_image(images.build(recipe))
            yield local, real
        finally:
            real.stop()
    assert real.leftovers == []


def _run_to_completion(local: cluster_mod.LocalCluster, name: str, image: str, args: list[str]) -> tuple[
        dict[str, Any], str]:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "main", "image": image, "args": args, "securityContext": {
                        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}}}]}}
    with local.kube() as admin:
        admin.create(pod)
        cluster_mod.wait_for(f"{name} to finish", lambda: admin.get(kube.POD, name, "default")["status"].get(
            "phase") in ("Succeeded", "Failed"), timeout=120, interval=0.3)
        finished = admin.get(kube.POD, name, "default")
    logs = local.kubectl("logs", "-n", "default", name)
    return finished, logs.stdout + logs.stderr


def test_the_project_image_from_the_dockerfile_runs_its_command_as_a_non_root_user(
    node: tuple[cluster_mod.LocalCluster, node_mod.RealNode],
) -> None:
    local, real = node
    image = real.images["jupyternetes"]
    pod, logs = _run_to_completion(local, "project-image", image.pinned, ["--help"])
    assert pod["status"]["phase"] == "Succeeded", logs
    assert "usage: jupyternetes" in logs and "operator" in logs and "webhook" in logs
    status = pod["status"]["containerStatuses"][0]
    assert status["imageID"].endswith(image.digest)
    # It ran at all under runAsNonRoot: the kubelet found the Dockerfile's USER numeric and not root.
    assert image.reference.startswith("localhost/jupyternetes/jupyternetes:")


def test_the_opa_image_runs_the_pinned_opa(node: tuple[cluster_mod.LocalCluster, node_mod.RealNode]) -> None:
    local, real = node
    from jupyternetes.dev import toolchain

    pod, logs = _run_to_completion(local, "opa-image", real.images["opa"].pinned, ["version"])
    assert pod["status"]["phase"] == "Succeeded", logs
    assert f"Version: {toolchain.OPA_VERSION.removeprefix('v')}" in logs
