"""The operator on the real local control plane: what instances turn into, and what status and Events say."""

from __future__ import annotations

import pytest
import yaml

from jupyternetes import kube, naming
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import HUB, OFFICER, LocalCluster
from tests import seeds
from tests.operator.conftest import (
    condition,
    events_for,
    labelled,
    made_objects,
    make_instance,
    make_template,
    reasons,
    wait_condition,
)
from tests.support import processes
from tests.support.admission_stub import DenyingWebhook
from tests.support.stacks import webhook_stack

pytestmark = pytest.mark.cluster


def test_seed_instance_yields_its_pvc_and_pod_and_becomes_ready_with_the_pods_ip_and_port(
    cluster: LocalCluster, admin: kube.Kube, operator: processes.Component
) -> None:
    """The announcement's YAML, verbatim, stored as in a cluster: the template through the webhook (which fills in
    the secure defaults the admission policies hold the operator's pods to), the instance by the hub."""
    template_yaml, instance_yaml = seeds.seed_yaml_blocks()
    name = yaml.safe_load(instance_yaml)["metadata"]["name"]
    cluster.kubectl("delete", "jni", name, "-n", "default", "--ignore-not-found", "--wait")
    cluster.kubectl("delete", "jnt", "default-template", "-n", "kadense", "--ignore-not-found", "--wait")
    with webhook_stack(cluster):
        assert cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=template_yaml).returncode == 0
        done = cluster.kubectl("apply", "-f", "-", identity=HUB, input=instance_yaml)
        assert done.returncode == 0, done.stderr
        instance = wait_condition(admin, "default", name, "Ready")
    pod_name = naming.object_name(name, "notebook")
    pvc_name = naming.object_name(name, "workspace")
    pod = admin.get(kube.POD, pod_name, "default")
    pvc = admin.get(kube.PVC, pvc_name, "default")
    assert pod["status"]["phase"] == "Running"
    assert pvc["status"]["phase"] == "Bound"
    status = instance["status"]
    assert status["pods"]["notebook"] == {"resourceName": pod_name, "state": "Running", "phase": "Running",
                                          "podIP": pod["status"]["podIP"], "port": 8888}
    assert status["pvcs"]["workspace"]["resourceName"] == pvc_name
    assert status["podsProvisioned"] == "Running" and status["pvcsProvisioned"] == "Provisioned"
    assert condition(instance, "Degraded")["status"] == "False"
    assert status["observedGeneration"] == instance["metadata"]["generation"]
    # The pod belongs to the instance; the workspace outlives it (default retention: keep).
    assert pod["metadata"]["ownerReferences"][0]["uid"] == instance["metadata"]["uid"]
    assert "ownerReferences" not in pvc["metadata"]
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == pvc_name
    uid = instance["metadata"]["uid"]
    cluster_mod.wait_for("the Ready event", lambda: any(
        e["reason"] == "Ready" for e in events_for(admin, "default", name, uid)), timeout=10)
    # Each once: the pod created, the workspace created or (kept from an earlier instance of this name) reused.
    made = made_objects(events_for(admin, "default", name, uid), ("Created", "Reused"))
    assert made == [["PersistentVolumeClaim", pvc_name], ["Pod", pod_name]]


def test_instance_in_its_own_namespace_with_its_own_template(admin: kube.Kube, hub: kube.Kube, namespace: str,
                                                             operator: processes.Component) -> None:
    admin.create(make_template(namespace))
    hub.create(make_instance(namespace, "alice"))
    wait_condition(admin, namespace, "alice", "Ready")


def test_a_pod_deleted_by_hand_is_recreated(admin: kube.Kube, hub: kube.Kube, namespace: str,
                                            operator: processes.Component) -> None:
    admin.create(make_template(namespace))
    hub.create(make_instance(namespace, "bob"))
    first = wait_condition(admin, namespace, "bob", "Ready")
    pod_name = first["status"]["pods"]["notebook"]["resourceName"]
    old_uid = admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"]
    admin.delete(kube.POD, pod_name, namespace)
    cluster_mod.wait_for("a new pod", lambda: admin.exists(kube.POD, pod_name, namespace) and admin.get(
        kube.POD, pod_name, namespace)["metadata"]["uid"] != old_uid, timeout=30)
    wait_condition(admin, namespace, "bob", "Ready")
    cluster_mod.wait_for("the Recreated event", lambda: "Recreated" in reasons(admin, namespace, "bob"), timeout=10)


def test_a_failed_pod_shows_in_status_and_is_not_replaced(admin: kube.Kube, hub: kube.Kube, namespace: str,
                                                          operator: processes.Component) -> None:
    admin.create(make_template(namespace))
    hub.create(make_instance(namespace, "carol"))
    ready = wait_condition(admin, namespace, "carol", "Ready")
    pod_name = ready["status"]["pods"]["notebook"]["resourceName"]
    uid = admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"]
    admin.patch(kube.POD, pod_name, {"status": {"phase": "Failed", "reason": "Error", "message": "kernel died"}},
                namespace, subresource="status")
    failed = wait_condition(admin, namespace, "carol", "Degraded", reason="PodFailed")
    assert failed["status"]["pods"]["notebook"]["state"] == "Failed"
    assert failed["status"]["pods"]["notebook"]["errorMessage"] == "kernel died"
    assert failed["status"]["podsProvisioned"] == "Failed"
    assert condition(failed, "Ready")["status"] == "False"
    assert admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"] == uid
    cluster_mod.wait_for("the PodFailed event", lambda: "PodFailed" in reasons(admin, namespace, "carol"),
                         timeout=10)


class TestProblems:
    def test_a_missing_template_is_degraded_until_the_template_appears(
        self, admin: kube.Kube, hub: kube.Kube, namespace: str, operator: processes.Component
    ) -> None:
        hub.create(make_instance(namespace, "dave", template="later"))
        instance = wait_condition(admin, namespace, "dave", "Degraded", reason="TemplateNotFound")
        assert "template 'later' does not exist in namespace" in condition(instance, "Degraded")["message"]
        assert labelled(admin, kube.PVC, namespace, "dave") == []
        cluster_mod.wait_for("the TemplateNotFound event",
                             lambda: "TemplateNotFound" in reasons(admin, namespace, "dave"), timeout=10)
        admin.create(make_template(namespace, name="later"))
        ready = wait_condition(admin, namespace, "dave", "Ready")
        assert condition(ready, "Degraded")["status"] == "False"

    def test_an_unknown_variable_is_degraded_with_the_variable_and_field_and_creates_nothing(
        self, admin: kube.Kube, hub: kube.Kube, namespace: str, operator: processes.Component
    ) -> None:
        admin.create(make_template(namespace))
        variables = dict(make_instance(namespace, "erin")["spec"]["variables"])
        del variables["jupyterhub.user.name"]
        hub.create(make_instance(namespace, "erin", variables=variables))
        instance = wait_condition(admin, namespace, "erin", "Degraded", reason="RenderFailed")
        message = condition(instance, "Degraded")["message"]
        assert "unknown variable 'jupyterhub.user.name'" in message
        assert "spec.pods[0].spec.containers[0].env[1].value" in message
        assert condition(instance, "Progressing")["status"] == "False"
        # The pass that reported the failure is the one that decided to create nothing; its Event comes after it.
        cluster_mod.wait_for("the RenderFailed event", lambda: "RenderFailed" in reasons(admin, namespace, "erin"),
                             timeout=10)
        assert instance["status"].get("pods", {}) == {} and instance["status"].get("pvcs", {}) == {}
        assert labelled(admin, kube.PVC, namespace, "erin") == []
        assert labelled(admin, kube.POD, namespace, "erin") == []

    def test_a_pod_denied_by_admission_is_degraded_with_the_webhooks_message_verbatim(
        self, admin: kube.Kube, hub: kube.Kube, namespace: str, operator: processes.Component
    ) -> None:
        message = "image quay.io/jupyter/datascience-notebook is not on the allowlist (policy images.allowed)"
        template = make_template(namespace)
        template["spec"]["pods"][0]["labels"]["deny-me"] = "yes"
        with DenyingWebhook(admin, namespace, "deny-me", message):
            admin.create(template)
            hub.create(make_instance(namespace, "frank"))
            instance = wait_condition(admin, namespace, "frank", "Degraded", reason="AdmissionDenied")
            pod_state = instance["status"]["pods"]["notebook"]
            assert pod_state["state"] == "Denied"
            assert message in pod_state["errorMessage"]
            assert message in condition(instance, "Degraded")["message"]
            # The PVC that was created first is reported, not left unexplained.
            assert instance["status"]["pvcs"]["workspace"]["state"] == "Provisioned"
            assert labelled(admin, kube.POD, namespace, "frank") == []
            cluster_mod.wait_for("the AdmissionDenied event",
                                 lambda: "AdmissionDenied" in reasons(admin, namespace, "frank"), timeout=10)
            denied = next(e for e in events_for(admin, namespace, "frank") if e["reason"] == "AdmissionDenied")
            assert message in denied["message"] and denied["type"] == "Warning"

    def test_quota_exceeded_is_retried_until_the_quota_allows_it(
        self, admin: kube.Kube, hub: kube.Kube, namespace: str, operator: processes.Component
    ) -> None:
        quota = admin.create({"apiVersion": "v1", "kind": "ResourceQuota",
                              "metadata": {"name": "no-pods", "namespace": namespace}, "spec": {"hard": {"pods": "0"}}})
        cluster_mod.wait_for("the quota to be counted", lambda: admin.get(
            kube.KNOWN_TYPES[("v1", "ResourceQuota")], "no-pods", namespace).get("status", {}).get("hard"), timeout=20)
        admin.create(make_template(namespace))
        hub.create(make_instance(namespace, "grace"))
        instance = wait_condition(admin, namespace, "grace", "Degraded", reason="QuotaExceeded")
        assert "exceeded quota" in condition(instance, "Degraded")["message"]
        assert condition(instance, "Progressing")["status"] == "True"
        admin.delete(kube.KNOWN_TYPES[("v1", "ResourceQuota")], quota["metadata"]["name"], namespace)
        ready = wait_condition(admin, namespace, "grace", "Ready", timeout=60)
        assert condition(ready, "Degraded")["status"] == "False"

    def test_a_template_from_a_namespace_that_is_not_allowed(
        self, admin: kube.Kube, hub: kube.Kube, namespace: str, operator: processes.Component
    ) -> None:
        hub.create(make_instance(namespace, "heidi", template="default-template", template_namespace="kube-system"))
        instance = wait_condition(admin, namespace, "heidi", "Degraded", reason="TemplateNamespaceNotAllowed")
        assert "may not use templates from namespace 'kube-system'" in condition(instance, "Degraded")["message"]

    def test_other_resources_of_kinds_not_on_the_allowlist_create_nothing(
        self, admin: kube.Kube, hub: kube.Kube, namespace: str, operator: processes.Component
    ) -> None:
        others = [{"name": "settings", "apiVersion": "v1", "kind": "ConfigMap",
                   "body": {"data": {"user": "{jupyterhub.user.name}"}}}]
        admin.create(make_template(namespace, others=others))
        hub.create(make_instance(namespace, "ivan"))
        instance = wait_condition(admin, namespace, "ivan", "Degraded", reason="KindNotAllowed")
        assert "v1/ConfigMap" in condition(instance, "Degraded")["message"]
        assert labelled(admin, kube.PVC, namespace, "ivan") == []
        assert labelled(admin, kube.POD, namespace, "ivan") == []
        assert labelled(admin, kube.CONFIG_MAP, namespace, "ivan") == []


def test_no_events_or_status_writes_on_no_op_resyncs(cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube,
                                                    namespace: str,
                                                    tmp_path_factory: pytest.TempPathFactory,
                                                    operator: processes.Component) -> None:
    """Resyncs are counted on the operator's own reconcile counter, so the test knows at least six happened for
    every instance it serves, rather than hoping a few seconds were enough."""
    operator.stop()
    port = processes.free_port()
    try:
        with processes.operator(cluster, tmp_path_factory.mktemp("resync"), identity="resync",
                                resync_seconds=0.5, metrics_port=port):
            admin.create(make_template(namespace))
            hub.create(make_instance(namespace, "judy"))
            ready = wait_condition(admin, namespace, "judy", "Ready")
            cluster_mod.wait_for("the Ready event", lambda: "Ready" in reasons(admin, namespace, "judy"),
                                 timeout=10)
            before_events = [e["metadata"]["uid"] for e in events_for(admin, namespace, "judy")]
            before_version = admin.get(kube.INSTANCE, "judy", namespace)["metadata"]["resourceVersion"]
            served = len(admin.list(kube.INSTANCE)["items"])
            counted = processes.metric(port, "jupyternetes_operator_reconciles_total")
            cluster_mod.wait_for("six resyncs of every instance", lambda: processes.metric(
                port, "jupyternetes_operator_reconciles_total") >= counted + 6 * served, timeout=60)
            assert [e["metadata"]["uid"] for e in events_for(admin, namespace, "judy")] == before_events
            assert admin.get(kube.INSTANCE, "judy", namespace)["metadata"]["resourceVersion"] == before_version
            assert ready["status"]["pods"]["notebook"]["state"] == "Running"
    finally:
        operator.start()
