"""A hub user learns why a start fails, from the instance's status alone (the hub may not read pods or Events): kwok
makes pods fail the ways real ones do (jupyternetes.dev.kwok_stages), the operator copies the kubelet's and the
scheduler's words into the status, and the spawner shows them as progress and fails at once, in plain words, when
waiting will not help."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyternetes import kube
from jupyternetes.dev import components
from jupyternetes.dev.cluster import ADMIN, HUB, OFFICER, LocalCluster
from jupyternetes.dev.kwok_stages import FAIL_AS
from jupyternetes.spawner import SpawnError
from tests.spawner.mock import spawner
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster

IMAGE = "quay.io/jupyter/base-notebook:2026-11-16"


def _template(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
            "metadata": {"name": name, "namespace": "kadense"},
            "spec": {"pods": [{"name": "notebook", "annotations": annotations or {}, "spec": {
                "containers": [{"name": "notebook", "image": IMAGE, "args": ["--ip=0.0.0.0"],
                                "ports": [{"name": "http", "containerPort": 8888}]}], **spec}}]}}


def _spawner(cluster: LocalCluster, user: str, template: str, timeout: int = 60) -> Any:
    return spawner(user, kubeconfig=str(cluster.kubeconfig(HUB)), namespace=cluster.config.hub_namespace,
                   template=template, template_namespace="kadense", start_timeout=timeout,
                   operator_public_key=str(components.sealing_keys(cluster)[1]))


async def _start(server: Any, progress_ends: bool = True) -> tuple[SpawnError, list[dict[str, Any]]]:
    """Start `server`, expecting the start to fail; the progress events shown meanwhile. JupyterHub stops following
    progress when a start fails; `progress_ends`: the stream ends by itself too (it does when the status says the
    start failed, not when the hub gave up waiting)."""
    events: list[dict[str, Any]] = []

    async def follow() -> None:
        async for event in server.progress():
            events.append(event)

    follower = asyncio.create_task(follow())
    try:
        with pytest.raises(SpawnError) as failed:
            await server.start()
        if progress_ends:
            await asyncio.wait_for(follower, 10)
    finally:
        follower.cancel()
        await server.stop(now=True)
    return failed.value, events


@pytest.mark.parametrize(("fail_as", "words", "kubelet"), [
    ("ImagePullBackOff", "its image cannot be pulled", "ImagePullBackOff: Back-off pulling image"),
    ("CrashLoopBackOff", "it keeps crashing", "it last exited with code 1 (Error)"),
    ("OOMKilled", "it ran out of memory", "it last exited with code 137 (OOMKilled)"),
])
async def test_a_pod_that_will_not_start_fails_the_start_at_once_with_the_kubelets_reason(
    cluster: LocalCluster, provisioning: Stack, fail_as: str, words: str, kubelet: str
) -> None:
    name = f"fails-{fail_as.lower()}"
    with cluster.kube(OFFICER) as officer:
        try:
            officer.create(_template(name, {FAIL_AS: fail_as}))
        except kube.Conflict:
            pass
    user = f"user-{fail_as.lower()}"
    error, events = await _start(_spawner(cluster, user, name))
    assert error.jupyterhub_message.startswith(f"Your server could not start because {words}: container notebook:")
    assert kubelet in error.jupyterhub_message
    shown = [e["message"] for e in events]
    assert any(m.startswith("Server pod 'notebook': container notebook:") and kubelet in m for m in shown), shown
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress), progress  # the bar never moves back
    with cluster.kube(ADMIN) as admin:
        assert not admin.exists(kube.INSTANCE, f"jupyter-{user}", cluster.config.hub_namespace)


async def test_a_pod_no_node_can_take_says_so_while_it_waits(cluster: LocalCluster, provisioning: Stack) -> None:
    """Unschedulable may resolve (a node may be added): the start waits, showing the scheduler's words, until its
    timeout, and the timeout's message carries them too."""
    with cluster.kube(OFFICER) as officer:
        try:
            officer.create(_template("fits-nowhere", nodeSelector={"jupyternetes.kadense.io/test-node": "none"}))
        except kube.Conflict:
            pass
    error, events = await _start(_spawner(cluster, "nowhere", "fits-nowhere", timeout=15), progress_ends=False)
    assert "did not start within 15 seconds" in error.jupyterhub_message
    assert "no node can take the pod yet" in error.jupyterhub_message
    assert any("no node can take the pod yet" in e["message"] for e in events), events


async def test_storage_that_does_not_bind_says_so_while_it_waits(cluster: LocalCluster, provisioning: Stack) -> None:
    """A claim of a StorageClass that nothing provisions stays Pending: the user sees which storage waits and for
    what, and the scheduler's words on the pod, until the start times out with them."""
    template = _template("unbound-storage")
    template["spec"]["pvcs"] = [{"name": "home", "spec": {"storageClassName": "nothing-provisions-this",
                                                          "accessModes": ["ReadWriteOnce"],
                                                          "resources": {"requests": {"storage": "1Gi"}}}}]
    pod = template["spec"]["pods"][0]["spec"]
    pod["volumes"] = [{"name": "home", "persistentVolumeClaim": {"claimName": "{jupyternetes.pvcs.home}"}}]
    pod["containers"][0]["volumeMounts"] = [{"name": "home", "mountPath": "/home/jovyan"}]
    with cluster.kube(OFFICER) as officer:
        try:
            officer.create(template)
        except kube.Conflict:
            pass
    error, events = await _start(_spawner(cluster, "unbound", "unbound-storage", timeout=20), progress_ends=False)
    shown = [e["message"] for e in events]
    assert ("Storage 'home': the claim is waiting for a volume of storage class 'nothing-provisions-this' (until one "
            "is provisioned, or the pod is scheduled)") in shown, shown
    assert not any("Storage 'home' is ready" in m for m in shown), shown
    assert "did not start within 20 seconds" in error.jupyterhub_message
    # The scheduler names the claim that holds the pod back; the timeout carries its words.
    assert "no node can take the pod yet" in error.jupyterhub_message
    assert "PersistentVolumeClaim" in error.jupyterhub_message, error.jupyterhub_message
