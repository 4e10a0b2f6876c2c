from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.webhook import defaults
from tests import seeds
from tests.support import processes


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Component]:
    """One operator for a test module, watching every namespace, with the dev configuration."""
    with processes.operator(cluster, tmp_path_factory.mktemp("operator")) as component:
        yield component


def make_template(namespace: str, name: str = "notebook", pod_spec: dict[str, Any] | None = None,
                  pvcs: bool = True, others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A template shaped like the seed's, as stored through the mutating webhook (with its secure defaults, which
    the admission policies hold the operator's pods to): one workspace PVC and one notebook pod."""
    seed = copy.deepcopy(seeds.seed_template())
    seed["metadata"] = {"name": name, "namespace": namespace}
    if pod_spec is not None:
        seed["spec"]["pods"][0]["spec"] = pod_spec
    if not pvcs:
        seed["spec"]["pvcs"] = []
        seed["spec"]["pods"][0]["spec"].pop("volumes", None)
        for container in seed["spec"]["pods"][0]["spec"]["containers"]:
            container.pop("volumeMounts", None)
    if others:
        seed["spec"]["otherResources"] = others
    for pod in seed["spec"]["pods"]:
        pod["spec"], _ = defaults.apply(pod["spec"], defaults.PodDefaults({"cpu": "2", "memory": "4Gi"}))
    return seed


def make_instance(namespace: str, name: str, template: str = "notebook", template_namespace: str | None = None,
                  variables: dict[str, str] | None = None) -> dict[str, Any]:
    seed = copy.deepcopy(seeds.seed_instance())
    seed["metadata"] = {"name": name, "namespace": namespace}
    seed.pop("status")
    seed["spec"]["template"] = {"name": template, **({"namespace": template_namespace} if template_namespace else {})}
    seed["spec"]["variables"]["jupyternetes.instance.name"] = name
    seed["spec"]["variables"]["jupyternetes.instance.namespace"] = namespace
    if variables is not None:
        seed["spec"]["variables"] = variables
    return seed


def condition(instance: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (instance.get("status") or {}).get("conditions", []) if c["type"] == type_), {})


def wait_condition(admin: kube.Kube, namespace: str, name: str, type_: str, status: str = "True",
                   reason: str | None = None, timeout: float = 60) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def check() -> bool:
        nonlocal found
        found = admin.get(kube.INSTANCE, name, namespace)
        c = condition(found, type_)
        return c.get("status") == status and (reason is None or c.get("reason") == reason)

    try:
        cluster_mod.wait_for(f"{type_}={status} on {namespace}/{name}", check, timeout=timeout, interval=0.1)
    except cluster_mod.ClusterError as error:
        raise AssertionError(f"{error}; status: {found.get('status')}") from None
    return found


def events_for(admin: kube.Kube, namespace: str, name: str, uid: str | None = None) -> list[dict[str, Any]]:
    """Events about the instance `name` (about this very instance, if `uid` is given: earlier instances of the same
    name have their own)."""
    selector = f"involvedObject.name={name},involvedObject.kind=JupyterNotebookInstance"
    if uid:
        selector += f",involvedObject.uid={uid}"
    events = admin.list(kube.EVENT, namespace, fieldSelector=selector)
    return sorted(events["items"], key=lambda e: e["metadata"]["creationTimestamp"])


def reasons(admin: kube.Kube, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events_for(admin, namespace, name)]


def labelled(admin: kube.Kube, rt: kube.ResourceType, namespace: str, instance: str) -> list[dict[str, Any]]:
    items = admin.list(rt, namespace, labelSelector=f"jupyternetes.kadense.io/instance={instance}")["items"]
    return list(items)


def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def made_objects(events: list[dict[str, Any]], reasons: tuple[str, ...] = ("Created",)) -> list[list[str]]:
    """[kind, name] of every object the Events with these reasons name (one Event per pass names all it made:
    "Created PersistentVolumeClaim a (template entry 'workspace'); Pod b (template entry 'notebook')"), sorted."""
    verbs = {"Created": "Created ", "Recreated": "Recreated ", "Reused": "Reusing existing "}
    found = []
    for event in events:
        if event["reason"] in reasons:
            for noun in event["message"].removeprefix(verbs[event["reason"]]).split("; "):
                found.append(noun.split()[:2])
    return sorted(found)
