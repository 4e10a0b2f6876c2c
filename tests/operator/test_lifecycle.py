"""Deletion, PVC retention and reuse, crashes at any moment, and two replicas: each test runs its own operators."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from jupyternetes import constants, kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import LocalCluster
from tests.operator.conftest import events_for, labelled, make_instance, make_template, reasons, wait_condition
from tests.support import processes

pytestmark = pytest.mark.cluster

LEASE = kube.KNOWN_TYPES[("coordination.k8s.io/v1", "Lease")]


def test_deleting_an_instance_removes_its_pod_by_garbage_collection_even_with_the_operator_down_and_keeps_the_pvc(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    admin.create(make_template(namespace))
    with processes.operator(cluster, tmp_path):
        hub.create(make_instance(namespace, "kate"))
        ready = wait_condition(admin, namespace, "kate", "Ready")
    pod_name = ready["status"]["pods"]["notebook"]["resourceName"]
    pvc_name = ready["status"]["pvcs"]["workspace"]["resourceName"]
    pvc_uid = admin.get(kube.PVC, pvc_name, namespace)["metadata"]["uid"]

    admin.delete(kube.INSTANCE, "kate", namespace)  # the operator is not running
    cluster_mod.wait_for("the garbage collector to delete the pod", lambda: not admin.exists(kube.POD, pod_name, namespace),
                         timeout=60)
    # The collector has dealt with the instance's dependents; the PVC is not one of them (no owner reference).
    kept = admin.get(kube.PVC, pvc_name, namespace)
    assert kept["metadata"]["uid"] == pvc_uid and not kept["metadata"].get("ownerReferences")
    assert not kept["metadata"].get("deletionTimestamp")

    # The same user starts again: the same PVC comes back, reused.
    with processes.operator(cluster, tmp_path):
        hub.create(make_instance(namespace, "kate"))
        again = wait_condition(admin, namespace, "kate", "Ready")
        cluster_mod.wait_for("the Reused event", lambda: "Reused" in reasons(admin, namespace, "kate"), timeout=10)
    assert again["status"]["pvcs"]["workspace"]["resourceName"] == pvc_name
    assert admin.get(kube.PVC, pvc_name, namespace)["metadata"]["uid"] == pvc_uid


def test_with_retention_delete_the_pvc_goes_with_its_instance(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    admin.create(make_template(namespace))
    with processes.operator(cluster, tmp_path, pvc_retention="delete"):
        hub.create(make_instance(namespace, "leo"))
        ready = wait_condition(admin, namespace, "leo", "Ready")
        pvc_name = ready["status"]["pvcs"]["workspace"]["resourceName"]
        pvc = admin.get(kube.PVC, pvc_name, namespace)
        assert pvc["metadata"]["ownerReferences"][0]["uid"] == ready["metadata"]["uid"]
        admin.delete(kube.INSTANCE, "leo", namespace)
        cluster_mod.wait_for("the PVC to be deleted with its instance",
                             lambda: not admin.exists(kube.PVC, pvc_name, namespace), timeout=60)


def _all_objects(admin: kube.Kube, namespace: str) -> tuple[list[dict], list[dict]]:
    selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
    return (admin.list(kube.POD, namespace, labelSelector=selector)["items"],
            admin.list(kube.PVC, namespace, labelSelector=selector)["items"])


def test_killing_the_operator_at_any_point_during_provisioning_leaves_exactly_one_of_each_object(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    admin.create(make_template(namespace))
    rng = random.Random(20261122)
    component = processes.operator(cluster, tmp_path, identity="crashy", workers=2).start()
    names: list[str] = []
    caught_midway = 0
    try:
        for round_ in range(4):
            batch = [f"user-{round_}-{i:02d}" for i in range(16)]
            names += batch
            for name in batch:
                hub.create(make_instance(namespace, name))
            # Kill it outright as soon as it has started on this batch (plus a random few milliseconds).
            cluster_mod.wait_for("the operator to start on the batch", lambda b=batch: any(
                labelled(admin, kube.PVC, namespace, n) for n in b), timeout=60, interval=0.01)
            time.sleep(rng.uniform(0.0, 0.05))
            component.kill()
            pods, pvcs = _all_objects(admin, namespace)
            caught_midway += len(pvcs) > len(pods) or len(pods) < len(names)
            component.start()
        for name in names:
            wait_condition(admin, namespace, name, "Ready", timeout=120)
    finally:
        component.stop()
    assert caught_midway >= 1, "no kill landed while provisioning was under way; the test proved nothing"
    pods, pvcs = _all_objects(admin, namespace)
    for kind, objects in (("pods", pods), ("PVCs", pvcs)):
        owners = sorted(o["metadata"]["annotations"][constants.ANNOTATION_INSTANCE_NAME] for o in objects)
        assert owners == sorted(names), f"{kind}: expected exactly one per instance"
    for name in names:
        instance = admin.get(kube.INSTANCE, name, namespace)
        assert instance["status"]["pods"]["notebook"]["state"] == "Running"
        assert instance["status"]["pvcs"]["workspace"]["state"] == "Provisioned"
        assert any(pod["metadata"]["name"] == instance["status"]["pods"]["notebook"]["resourceName"] for pod in pods)


def test_of_two_replicas_only_the_leader_acts_and_the_other_takes_over_when_it_dies(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    admin.create(make_template(namespace))
    # The chart's lease timings, not the test-friendly 4 s: this test is about who acts, and on a loaded machine a
    # 4 s lease can change hands before the first instance is done (seen once in CI).
    lease = {"lease_duration_seconds": 15, "lease_renew_seconds": 5}
    first = processes.operator(cluster, tmp_path, identity="replica-a", **lease).start()
    cluster_mod.wait_for("replica-a to lead", lambda: admin.get(LEASE, "jupyternetes-operator", cluster.config
                         .system_namespace)["spec"].get("holderIdentity") == "replica-a", timeout=30)
    second = processes.operator(cluster, tmp_path, identity="replica-b", **lease).start()
    try:
        cluster_mod.wait_for("replica-b to campaign", lambda: "waiting to become the leader" in second.log(),
                             timeout=30)
        hub.create(make_instance(namespace, "mallory"))
        wait_condition(admin, namespace, "mallory", "Ready")
        cluster_mod.wait_for("the Ready event", lambda: "Ready" in reasons(admin, namespace, "mallory"), timeout=10)
        assert {e["reportingInstance"] for e in events_for(admin, namespace, "mallory")} == {"replica-a"}
        assert "event " in first.log()
        assert "became the leader" not in second.log() and "event " not in second.log()

        first.kill()
        cluster_mod.wait_for("replica-b to take over", lambda: "became the leader" in second.log(), timeout=60)
        lease = admin.get(LEASE, "jupyternetes-operator", cluster.config.system_namespace)
        assert lease["spec"]["holderIdentity"] == "replica-b"
        hub.create(make_instance(namespace, "niaj"))
        wait_condition(admin, namespace, "niaj", "Ready")
        assert "event " in second.log()
    finally:
        first.stop()
        second.stop()
    # A clean stop hands the lease back at once.
    lease = admin.get(LEASE, "jupyternetes-operator", cluster.config.system_namespace)
    assert not lease["spec"].get("holderIdentity")


def test_a_replica_that_loses_its_lease_stops_acting_and_exits(
    cluster: LocalCluster, admin: kube.Kube, tmp_path: Path
) -> None:
    component = processes.operator(cluster, tmp_path, identity="usurped").start()
    namespace = cluster.config.system_namespace
    try:
        cluster_mod.wait_for("it to lead", lambda: "became the leader" in component.log(), timeout=30)
        lease = admin.get(LEASE, "jupyternetes-operator", namespace)
        lease["spec"]["holderIdentity"] = "someone-else"
        lease["spec"]["renewTime"] = lease["spec"]["renewTime"]
        admin.replace(LEASE, lease)
        cluster_mod.wait_for("it to exit", lambda: not component.alive(), timeout=30)
        assert component.popen is not None and component.popen.returncode == 3
        assert "lost the lease" in component.log()
    finally:
        component.stop()
        lease = admin.get(LEASE, "jupyternetes-operator", namespace)
        lease["spec"]["holderIdentity"] = None
        admin.replace(LEASE, lease)


def test_objects_for_one_instance_are_labelled_for_it(admin: kube.Kube, hub: kube.Kube, cluster: LocalCluster,
                                                     namespace: str,
                                                      tmp_path: Path) -> None:
    admin.create(make_template(namespace))
    with processes.operator(cluster, tmp_path):
        hub.create(make_instance(namespace, "olivia"))
        wait_condition(admin, namespace, "olivia", "Ready")
    for rt in (kube.POD, kube.PVC):
        (obj,) = labelled(admin, rt, namespace, "olivia")
        labels = obj["metadata"]["labels"]
        assert labels[constants.LABEL_TEMPLATE] == "notebook"
        assert labels[constants.LABEL_TEMPLATE_NAMESPACE] == namespace
        assert labels[constants.LABEL_MANAGED_BY] == "jupyternetes"


def test_allowlisted_other_resources_are_created_owned_by_the_instance(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    # An admin who enables a kind also grants the operator's RBAC for it.
    rbac = "rbac.authorization.k8s.io/v1"
    grant = {"apiVersion": rbac, "kind": "Role", "metadata": {"name": "operator-configmaps", "namespace": namespace},
             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]}]}
    binding = {"apiVersion": rbac, "kind": "RoleBinding",
               "metadata": {"name": "operator-configmaps", "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operator-configmaps"},
               "subjects": [{"kind": "ServiceAccount", "name": "jupyternetes-operator",
                             "namespace": cluster.config.system_namespace}]}
    admin.create(grant)
    admin.create(binding)
    others = [{"name": "settings", "apiVersion": "v1", "kind": "ConfigMap",
               "body": {"data": {"user": "{jupyterhub.user.name}"}}}]
    admin.create(make_template(namespace, others=others))
    with processes.operator(cluster, tmp_path, allowed_kinds='["v1/ConfigMap"]'):
        hub.create(make_instance(namespace, "peggy"))
        ready = wait_condition(admin, namespace, "peggy", "Ready")
    state = ready["status"]["otherResources"]["settings"]
    assert state["state"] == "Provisioned" and state["kind"] == "ConfigMap"
    assert ready["status"]["otherResourcesProvisioned"] == {"ConfigMap": "Provisioned"}
    config_map = admin.get(kube.KNOWN_TYPES[("v1", "ConfigMap")], state["resourceName"], namespace)
    assert config_map["data"] == {"user": "jovyan"}
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == ready["metadata"]["uid"]


def test_a_status_write_is_refused_for_an_instance_replaced_under_the_same_name(admin: kube.Kube, hub: kube.Kube,
                                                                                namespace: str) -> None:
    """The premise of the operator's uid-guarded status patch, checked on the real API server: a JSON patch whose
    uid test fails is refused as a whole (422, with no detail, so the operator then reads the instance's uid), so a
    status computed for a deleted instance cannot land on its same-named successor."""
    admin.create(make_template(namespace))
    created = hub.create(make_instance(namespace, "reborn"))
    with pytest.raises(kube.ApiError) as refused:
        admin.patch(kube.INSTANCE, "reborn", [
            {"op": "test", "path": "/metadata/uid", "value": "00000000-0000-0000-0000-000000000000"},
            {"op": "add", "path": "/status", "value": {"podsProvisioned": "Provisioned"}}],
            namespace, content_type=kube.JSON_PATCH, subresource="status")
    assert refused.value.status == 422
    assert (admin.get(kube.INSTANCE, "reborn", namespace).get("status") or {}).get("podsProvisioned") != "Provisioned"
    admin.patch(kube.INSTANCE, "reborn", [
        {"op": "test", "path": "/metadata/uid", "value": created["metadata"]["uid"]},
        {"op": "add", "path": "/status", "value": {"podsProvisioned": "Provisioned"}}],
        namespace, content_type=kube.JSON_PATCH, subresource="status")


def test_an_instance_deleted_and_created_again_at_once_ends_ready_with_its_own_pod(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    admin.create(make_template(namespace))
    with processes.operator(cluster, tmp_path):
        for _ in range(3):
            hub.create(make_instance(namespace, "phoenix"))
            time.sleep(random.uniform(0, 0.5))
            admin.delete(kube.INSTANCE, "phoenix", namespace)
            cluster_mod.wait_for("the instance to go", lambda: not admin.exists(kube.INSTANCE, "phoenix", namespace),
                                 timeout=30)
        final = hub.create(make_instance(namespace, "phoenix"))
        pod: dict = {}

        def settled() -> bool:
            nonlocal pod
            ready = wait_condition(admin, namespace, "phoenix", "Ready", timeout=60)
            try:
                pod = admin.get(kube.POD, ready["status"]["pods"]["notebook"]["resourceName"], namespace)
            except kube.NotFound:
                return False
            return not pod["metadata"].get("deletionTimestamp")

        cluster_mod.wait_for("phoenix Ready with a live pod", settled, timeout=90, interval=0.5)
        # Anything an earlier phoenix owned goes by garbage collection: wait for that, then only the last one's pod
        # may remain.
        cluster_mod.wait_for("the earlier phoenixes' pods to go", lambda: all(
            ref["uid"] == final["metadata"]["uid"] for p in labelled(admin, kube.POD, namespace, "phoenix")
            for ref in p["metadata"]["ownerReferences"]), timeout=60, interval=0.3)
        pod = admin.get(kube.POD, pod["metadata"]["name"], namespace)
    assert [ref["uid"] for ref in pod["metadata"]["ownerReferences"]] == [final["metadata"]["uid"]]
    assert [p["metadata"]["uid"] for p in labelled(admin, kube.POD, namespace, "phoenix")] == [pod["metadata"]["uid"]]
