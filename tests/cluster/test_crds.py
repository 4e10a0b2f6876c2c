"""The CRDs on a real API server: the seed applies verbatim and reads back unpruned; malformed templates are refused
at apply time with a message that names the field."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev.cluster import ADMIN, HUB, OFFICER, LocalCluster
from tests import seeds

pytestmark = pytest.mark.cluster


def _apply(cluster: LocalCluster, doc: dict, identity: str = ADMIN) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "-f", "-", identity=identity, input=yaml.safe_dump(doc))


def test_both_crds_are_established_with_short_names_and_columns(cluster: LocalCluster) -> None:
    done = cluster.kubectl("api-resources", "--api-group=kadense.io", "-o", "wide", check=True)
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert "jnt" in lines["jupyternotebooktemplates"] and "true" in lines["jupyternotebooktemplates"]
    assert "jni" in lines["jupyternotebookinstances"]
    assert "JupyterNotebookInstance" in lines["jupyternotebookinstances"]


def test_seed_template_applies_verbatim_and_reads_back_unpruned(cluster: LocalCluster) -> None:
    template_yaml = seeds.seed_yaml_blocks()[0]
    done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=template_yaml)
    assert done.returncode == 0, done.stderr
    stored = json.loads(cluster.kubectl("get", "jnt", "default-template", "-n", "kadense", "-o", "json",
                                        check=True).stdout)
    assert stored["spec"] == yaml.safe_load(template_yaml)["spec"]
    listing = cluster.kubectl("get", "jnt", "default-template", "-n", "kadense", check=True).stdout.split("\n")
    assert listing[0].split() == ["NAME", "PODS", "IMAGES", "AGE"]
    image = stored["spec"]["pods"][0]["spec"]["containers"][0]["image"]
    assert listing[1].split()[:3] == ["default-template", stored["spec"]["pods"][0]["name"], image]


def test_seed_instance_applies_verbatim_as_the_hub_and_its_status_reads_back_unpruned(
    cluster: LocalCluster, admin: kube.Kube
) -> None:
    instance_yaml = seeds.seed_yaml_blocks()[1]
    seed = yaml.safe_load(instance_yaml)
    # The hub may create but never patch: start from no instance of that name (another test may have made one).
    cluster.kubectl("delete", "jni", seed["metadata"]["name"], "-n", "default", "--ignore-not-found", "--wait")
    done = cluster.kubectl("apply", "-f", "-", identity=HUB, input=instance_yaml)
    assert done.returncode == 0, done.stderr
    stored = admin.get(kube.INSTANCE, seed["metadata"]["name"], "default")
    assert stored["spec"] == seed["spec"]
    # A status subresource ignores status on create; written through /status, the seed's status is kept whole.
    admin.patch(kube.INSTANCE, seed["metadata"]["name"], {"status": seed["status"]}, "default",
                subresource="status")
    stored = admin.get(kube.INSTANCE, seed["metadata"]["name"], "default")
    assert stored["status"] == seed["status"]
    listing = cluster.kubectl("get", "jni", "-n", "default", check=True).stdout
    assert listing.split("\n")[0].split() == ["NAME", "TEMPLATE", "READY", "AGE"]
    assert "default-template" in listing
    admin.delete(kube.INSTANCE, seed["metadata"]["name"], "default")


def _seed_with(path: list, value: object) -> dict:
    doc = copy.deepcopy(seeds.seed_template())
    doc["metadata"]["name"] = "broken"
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["spec", "pods", 0, "spec", "containers"], {"name": "notebook", "image": "x"},
         'unknown field "spec.pods[0].spec.containers.image"'),
        (["spec", "pods", 0, "spec", "containers", 0, "imagee"], "x",
         'unknown field "spec.pods[0].spec.containers[0].imagee"'),
        (["spec", "pods", 0, "spec", "volumes", 0, "persistentVolumeClaim"], ["a"],
         "spec.pods[0].spec.volumes[0].persistentVolumeClaim: Invalid value"),
        (["spec", "pods", 0, "spec", "containers", 0, "ports", 0, "containerPort"], "8888",
         "spec.pods[0].spec.containers[0].ports[0].containerPort: Invalid value"),
        (["spec", "pvcs", 0, "spec", "accessMode"], ["ReadWriteOnce"],
         'unknown field "spec.pvcs[0].spec.accessMode"'),
        (["spec", "pods", 0, "name"], "Not_A_DNS_Label",
         "spec.pods[0].name: Invalid value"),
    ],
    ids=["list-is-an-object", "misspelt-container-field", "object-is-a-list", "string-for-integer",
         "misspelt-pvc-field", "bad-entry-name"],
)
def test_structurally_wrong_templates_are_refused_naming_the_field(
    cluster: LocalCluster, path: list, value: object, expected: str
) -> None:
    done = _apply(cluster, _seed_with(path, value), OFFICER)
    assert done.returncode != 0
    assert expected in done.stderr, done.stderr
    assert cluster.kubectl("get", "jnt", "broken", "-n", "kadense").returncode != 0


def test_any_podspec_field_is_kept_including_ones_the_seed_does_not_use(cluster: LocalCluster,
                                                                       admin: kube.Kube) -> None:
    doc = _seed_with(["metadata", "name"], "rich")
    pod_spec = doc["spec"]["pods"][0]["spec"]
    pod_spec.update({
        "nodeSelector": {"disktype": "ssd"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "preference": {"matchExpressions": [
                {"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}]}}]}},
        "initContainers": [{"name": "init", "image": "busybox:{jupyterhub.user.id}", "command": ["true"]}],
        "securityContext": {"runAsUser": 1000, "fsGroup": 100, "seccompProfile": {"type": "RuntimeDefault"}},
        "restartPolicy": "{jupyterhub.restart}",
        "terminationGracePeriodSeconds": 5,
    })
    pod_spec["containers"][0]["resources"] = {"limits": {"cpu": 2, "memory": "2Gi"}, "requests": {"cpu": "500m"}}
    pod_spec["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": "http"}}
    done = _apply(cluster, doc, OFFICER)
    assert done.returncode == 0, done.stderr
    stored = admin.get(kube.TEMPLATE, "rich", "kadense")
    assert stored["spec"] == doc["spec"]
