"""Drills by a template author (careless, or with a stolen officer account): every field that carries an identity, a
credential, an image, storage, compute or a scheduling privilege is judged, whatever list or volume it hides in.
Each template is applied with kubectl as the security officer, through the real API server and the webhook, and must
be refused for its own rule, with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev.cluster import OFFICER, LocalCluster
from tests.security.drills import IMAGE, refused_by, unique
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster

Spec = dict[str, Any]


def _container(spec: Spec) -> dict[str, Any]:
    return spec["containers"][0]


def _volume(spec: Spec, volume: dict[str, Any], mount: bool = True) -> None:
    spec.setdefault("volumes", []).append(volume)
    if mount:
        _container(spec).setdefault("volumeMounts", []).append({"name": volume["name"], "mountPath": "/x"})


EDITS: list[tuple[str, Callable[[Spec], Any], str, str]] = [
    ("run as the hub's service account", lambda s: s.update(serviceAccountName="hub"),
     "floor:component-identity", "belongs to JupyterHub or a Jupyternetes component"),
    ("run as the operator's service account (deprecated field)",
     lambda s: s.update(serviceAccount="jupyternetes-operator"), "floor:component-identity", "spec.serviceAccount"),
    ("run as another service account", lambda s: s.update(serviceAccountName="ci-deployer"),
     "identity", "service account \"ci-deployer\" is not allowed"),
    ("mount the API token", lambda s: s.update(automountServiceAccountToken=True),
     "identity", "would receive a Kubernetes API token"),
    ("a projected token for the API server", lambda s: _volume(s, {"name": "t", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}),
     "identity", "service-account token for audience \"\" is not allowed"),
    ("the hub's Secret in an environment variable", lambda s: _container(s).setdefault("env", []).append(
        {"name": "T", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "values.yaml"}}}),
     "credentials", "Secret \"hub\" is not the instance's own Secret"),
    ("another Secret through envFrom", lambda s: _container(s).setdefault("envFrom", []).append(
        {"secretRef": {"name": "jupyternetes-webhook-tls"}}), "credentials", "jupyternetes-webhook-tls"),
    ("a Secret as a volume", lambda s: _volume(s, {"name": "s", "secret": {"secretName": "jupyternetes-sealing-key"}}),
     "credentials", "jupyternetes-sealing-key"),
    ("a Secret in a projected volume", lambda s: _volume(s, {"name": "p", "projected": {"sources": [
        {"secret": {"name": "hub"}}]}}), "credentials", "spec.pods[0].spec.volumes[1].projected.sources[0]"),
    ("the hub's ConfigMap", lambda s: _container(s).setdefault("envFrom", []).append(
        {"configMapRef": {"name": "hub"}}), "credentials", "ConfigMap \"hub\""),
    ("another user's workspace", lambda s: _volume(s, {"name": "w", "persistentVolumeClaim": {
        "claimName": "jupyter-alice-home-1a2b3c4d"}}), "storage", "is not one of the instance's own"),
    ("a claim cloned from another user's workspace", lambda s: _volume(s, {"name": "e", "ephemeral": {
        "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {
            "storage": "1Gi"}}, "dataSource": {"kind": "PersistentVolumeClaim",
                                               "name": "jupyter-alice-home-1a2b3c4d"}}}}}),
     "storage", "may not be filled from PersistentVolumeClaim"),
    ("a 10Ti scratch volume", lambda s: _volume(s, {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Ti"}}}}}}),
     "storage", "above the most allowed, 100Gi"),
    ("an inline CSI volume", lambda s: _volume(s, {"name": "c", "csi": {"driver": "secrets-store.csi.k8s.io"}}),
     "storage", "CSI driver"),
    ("an image volume off the allowlist", lambda s: _volume(s, {"name": "i", "image": {
        "reference": "docker.io/evil/tools:1"}}), "images", "docker.io/evil/tools"),
    ("an init container off the allowlist", lambda s: s.setdefault("initContainers", []).append(
        {"name": "init", "image": "docker.io/evil/init:1"}), "images", "spec.pods[0].spec.initContainers[0]"),
    ("pod-level resources above the bounds", lambda s: s.update(resources={"limits": {"cpu": "64",
                                                                                      "memory": "2Ti"}}),
     "resources", "pod-level cpu limit of 64"),
    ("a system priority class", lambda s: s.update(priorityClassName="system-node-critical"),
     "scheduling", "PriorityClass \"system-node-critical\""),
    ("a runtime class", lambda s: s.update(runtimeClassName="runc-unconfined"), "scheduling", "RuntimeClass"),
    ("tolerate every taint", lambda s: s.update(tolerations=[{"operator": "Exists"}]),
     "scheduling", "tolerates every taint"),
    ("pin to a node, bypassing the scheduler", lambda s: s.update(nodeName="kwok-node-0"),
     "floor:field-not-allowed", "nodeName bypasses the scheduler"),
    ("claim devices", lambda s: s.update(resourceClaims=[{"name": "gpu", "resourceClaimName": "someone"}]),
     "floor:field-not-allowed", "dynamic resource claims"),
    ("a raw block device", lambda s: _container(s).update(volumeDevices=[{"name": "w", "devicePath": "/dev/x"}]),
     "floor:field-not-allowed", "raw block devices"),
]


def _template(name: str, edit: Callable[[Spec], Any]) -> dict[str, Any]:
    spec: Spec = {"containers": [{"name": "notebook", "image": IMAGE,
                                  "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]}],
                  "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "{jupyternetes.pvcs.home}"}}]}
    edit(spec)
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
            "metadata": {"name": name, "namespace": "kadense"},
            "spec": {"pvcs": [{"name": "home", "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": "1Gi"}}}}],
                     "pods": [{"name": "notebook", "spec": spec}]}}


def test_the_base_template_is_admitted(cluster: LocalCluster, stack: Stack) -> None:
    """The control: without an edit, the template the drills start from is admitted (dry run)."""
    done = cluster.kubectl("apply", "--dry-run=server", "-f", "-", identity=OFFICER,
                           input=yaml.safe_dump(_template(unique("drill-base"), lambda s: None)))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("what", "edit", "rule", "words"), EDITS, ids=[e[0] for e in EDITS])
def test_a_template_that_would_hand_a_notebook_more_is_refused(
    cluster: LocalCluster, admin: kube.Kube, stack: Stack, what: str, edit: Callable[[Spec], Any], rule: str,
    words: str
) -> None:
    name = unique("drill-field")
    done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=yaml.safe_dump(_template(name, edit)))
    assert done.returncode != 0, f"{what}: admitted"
    assert refused_by(done.stderr) == "webhook:templates.validate.jupyternetes.kadense.io", done.stderr
    assert f"(rule {rule})" in done.stderr and words in done.stderr, done.stderr
    assert not admin.exists(kube.TEMPLATE, name, "kadense")


def test_every_rule_in_one_template_is_reported_at_once(cluster: LocalCluster, stack: Stack) -> None:
    chosen = {e[0]: e for e in EDITS}
    names = ["run as the hub's service account", "mount the API token", "the hub's Secret in an environment variable",
             "a 10Ti scratch volume"]

    def everything(spec: Spec) -> None:
        for name in names:
            chosen[name][1](spec)

    done = cluster.kubectl("apply", "--dry-run=server", "-f", "-", identity=OFFICER,
                           input=yaml.safe_dump(_template(unique("drill-all"), everything)))
    assert done.returncode != 0
    for name in names:
        assert f"(rule {chosen[name][2]})" in done.stderr and chosen[name][3] in done.stderr, (name, done.stderr)
