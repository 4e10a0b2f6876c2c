"""The local control plane behaves like a cluster: identities, scheduling onto kwok nodes, storage, garbage
collection."""

from __future__ import annotations

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import LocalCluster

pytestmark = pytest.mark.cluster

EXPECTED = {
    cluster_mod.ADMIN: ("jupyternetes-admin", "system:masters"),
    cluster_mod.OFFICER: (cluster_mod.OFFICER_USER, cluster_mod.OFFICER_GROUP),
    cluster_mod.HUB: ("system:serviceaccount:default:hub", "system:serviceaccounts:default"),
    cluster_mod.OPERATOR: ("system:serviceaccount:jupyternetes:jupyternetes-operator",
                           "system:serviceaccounts:jupyternetes"),
    cluster_mod.WEBHOOK: ("system:serviceaccount:jupyternetes:jupyternetes-webhook",
                          "system:serviceaccounts:jupyternetes"),
}


@pytest.mark.parametrize("identity", cluster_mod.IDENTITIES)
def test_kubeconfig_authenticates_as_its_identity(cluster: LocalCluster, identity: str) -> None:
    with cluster.kube(identity) as client:
        review = client.create({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    user = review["status"]["userInfo"]
    username, group = EXPECTED[identity]
    assert user["username"] == username
    assert group in user["groups"]
    if identity != cluster_mod.ADMIN:
        assert "system:masters" not in user["groups"]


def test_the_hub_cannot_read_pods_or_secrets(cluster: LocalCluster) -> None:
    with cluster.kube(cluster_mod.HUB) as hub:
        for rt in (kube.POD, kube.SECRET):
            with pytest.raises(kube.Forbidden):
                hub.list(rt, "default")


def test_kwok_nodes_run_pods_with_pod_ips(cluster: LocalCluster, admin: kube.Kube, namespace: str) -> None:
    admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": namespace},
                  "spec": {"containers": [{"name": "c", "image": "example.invalid/none:1"}]}})
    cluster_mod.wait_for("the probe pod to run", lambda: admin.get(kube.POD, "probe", namespace)
                         .get("status", {}).get("phase") == "Running", timeout=30)
    pod = admin.get(kube.POD, "probe", namespace)
    assert pod["spec"]["nodeName"].startswith("kwok-node-")
    assert pod["status"]["podIP"].startswith(cluster.config.pod_cidr_prefix + ".")


def test_garbage_collector_deletes_dependents(admin: kube.Kube, namespace: str) -> None:
    owner = admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner",
                                                                                "namespace": namespace}})
    admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "dependent", "namespace": namespace,
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                             "uid": owner["metadata"]["uid"]}]}})
    admin.delete(kube.KNOWN_TYPES[("v1", "ConfigMap")], "owner", namespace)

    cluster_mod.wait_for("the garbage collector to delete the dependent",
                         lambda: not admin.exists(kube.KNOWN_TYPES[("v1", "ConfigMap")], "dependent", namespace),
                         timeout=30)


def test_claims_are_provisioned_and_bound_so_pods_that_mount_them_run(admin: kube.Kube, namespace: str) -> None:
    admin.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "work", "namespace": namespace},
                  "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mounts", "namespace": namespace},
                  "spec": {"containers": [{"name": "c", "image": "example.invalid/none:1",
                                           "volumeMounts": [{"name": "w", "mountPath": "/w"}]}],
                           "volumes": [{"name": "w", "persistentVolumeClaim": {"claimName": "work"}}]}})
    cluster_mod.wait_for("the claim to bind", lambda: admin.get(kube.PVC, "work", namespace)
                         .get("status", {}).get("phase") == "Bound", timeout=30)
    assert admin.get(kube.PVC, "work", namespace)["spec"]["storageClassName"] == "standard"
    cluster_mod.wait_for("the pod to run", lambda: admin.get(kube.POD, "mounts", namespace)
                         .get("status", {}).get("phase") == "Running", timeout=30)
