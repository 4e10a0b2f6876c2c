"""Every reason the operator can put on an instance's conditions, produced on the real API server by the situation
it names, with the message a person reads. The reasons other modules already produce (TemplateNotFound, NameConflict,
AdmissionDenied, ...) are found there by the last test here, which fails when a reason has no test at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.operator import status as status_mod
from jupyternetes.operator.leader import LEASE
from tests.operator.conftest import condition, labelled, make_instance, make_template, reasons, wait_condition
from tests.support import processes
from tests.support.stacks import webhook_stack

pytestmark = pytest.mark.cluster

TESTS = Path(__file__).resolve().parents[1]
NODE = kube.KNOWN_TYPES[("v1", "Node")]


@pytest.fixture(scope="module")
def quick(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Component]:
    """One operator for the module that retries every 0.5 to 2 s, so recoveries show within a test."""
    with processes.operator(cluster, tmp_path_factory.mktemp("operator"), identity="reasons",
                            retry_max_seconds=2) as component:
        yield component


def test_a_running_instance_reports_pods_running_and_as_expected(
    admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component
) -> None:
    admin.create(make_template(namespace))
    hub.create(make_instance(namespace, "amy"))
    ready = wait_condition(admin, namespace, "amy", "Ready", reason="PodsRunning")
    pod = ready["status"]["pods"]["notebook"]
    assert condition(ready, "Ready")["message"] == f"running: {pod['resourceName']} at {pod['podIP']}:8888"
    assert condition(ready, "Degraded") | {"lastTransitionTime": None} == {
        "type": "Degraded", "status": "False", "reason": "AsExpected", "message": "", "lastTransitionTime": None,
        "observedGeneration": ready["metadata"]["generation"]}


def test_a_pod_no_node_can_take_is_provisioning_and_says_what_it_waits_for(
    admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component
) -> None:
    template = make_template(namespace)
    resources = template["spec"]["pods"][0]["spec"]["containers"][0]["resources"]
    resources["requests"] = {**resources.get("requests", {}), "cpu": "100000"}
    resources["limits"] = {**resources.get("limits", {}), "cpu": "100000"}
    admin.create(template)
    hub.create(make_instance(namespace, "ben"))
    waiting = wait_condition(admin, namespace, "ben", "Ready", status="False", reason="Provisioning")
    cluster_mod.wait_for("the pod to exist", lambda: labelled(admin, kube.POD, namespace, "ben"), timeout=30)
    pod_name = labelled(admin, kube.POD, namespace, "ben")[0]["metadata"]["name"]
    words = f"waiting for {pod_name}: no node can take the pod yet: 0/"

    def told() -> bool:
        message = condition(admin.get(kube.INSTANCE, "ben", namespace), "Ready").get("message", "")
        return words in message and "Insufficient cpu" in message  # (first, maybe, the unbound workspace)

    cluster_mod.wait_for("the scheduler's reason in the instance's status", told, timeout=60)
    waiting = admin.get(kube.INSTANCE, "ben", namespace)
    assert condition(waiting, "Ready")["reason"] == condition(waiting, "Progressing")["reason"] == "Provisioning"
    assert condition(waiting, "Progressing")["status"] == "True"
    assert condition(waiting, "Degraded")["status"] == "False"
    assert waiting["status"]["pods"]["notebook"]["state"] == "Provisioned"


def test_a_pod_that_ran_to_completion_is_reported_as_succeeded_not_ready(
    admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component
) -> None:
    admin.create(make_template(namespace))
    hub.create(make_instance(namespace, "cleo"))
    ready = wait_condition(admin, namespace, "cleo", "Ready")
    pod_name = ready["status"]["pods"]["notebook"]["resourceName"]
    uid = admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"]
    admin.patch(kube.POD, pod_name, {"status": {"phase": "Succeeded"}}, namespace, subresource="status")
    done = wait_condition(admin, namespace, "cleo", "Ready", status="False", reason="PodSucceeded")
    assert condition(done, "Ready")["message"] == "every pod has run to completion"
    assert condition(done, "Progressing")["status"] == "False"
    assert condition(done, "Degraded")["status"] == "False"
    cluster_mod.wait_for("the PodSucceeded event", lambda: "PodSucceeded" in reasons(admin, namespace, "cleo"),
                         timeout=10)
    assert admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"] == uid  # not replaced


def test_a_claim_whose_volume_is_gone_is_degraded_as_claim_lost_with_what_to_do(
    admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component, cluster: LocalCluster
) -> None:
    """The workspace's PersistentVolume is deleted from under a running server (its protection removed by an
    administrator): the controller manager marks the claim Lost, and the instance says so, and stops progressing."""
    admin.create(make_template(namespace))
    hub.create(make_instance(namespace, "finn"))
    ready = wait_condition(admin, namespace, "finn", "Ready")
    claim = admin.get(kube.PVC, ready["status"]["pvcs"]["workspace"]["resourceName"], namespace)
    volume = claim["spec"]["volumeName"]
    pv = kube.KNOWN_TYPES[("v1", "PersistentVolume")]
    # Deleted first, then its protection removed: removed first, the PV protection controller may add the finalizer
    # back before the delete (the volume is still bound), and the volume would stay Terminating, its claim Bound.
    admin.delete(pv, volume)
    admin.patch(pv, volume, {"metadata": {"finalizers": None}})
    cluster_mod.wait_for("the volume to be gone", lambda: not any(
        v["metadata"]["name"] == volume for v in admin.list(pv)["items"]), timeout=30)
    try:
        lost = wait_condition(admin, namespace, "finn", "Degraded", reason="ClaimLost")
    except AssertionError as error:  # say whether the claim was Lost at all, and which operator replica leads
        now = admin.get(kube.PVC, claim["metadata"]["name"], namespace)
        holder = admin.get(LEASE, "jupyternetes-operator", cluster.config.system_namespace)["spec"]
        raise AssertionError(f"{error}; the claim is {now.get('status', {}).get('phase')}; lease: {holder}; "
                             f"operator log:\n{quick.log()[-3000:]}") from None
    state = lost["status"]["pvcs"]["workspace"]
    assert (state["state"], state["phase"], state["reason"]) == ("Failed", "Lost", "ClaimLost")
    assert condition(lost, "Degraded")["message"] == (
        f"claim {claim['metadata']['name']}: the claim lost its volume {volume}, which no longer exists; an "
        "administrator must restore the volume or delete the claim")
    assert condition(lost, "Progressing")["status"] == "False"
    assert condition(lost, "Ready")["status"] == "False"


def test_an_object_the_api_server_finds_invalid_is_reported_with_its_message_and_not_retried(
    admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component
) -> None:
    """The template puts the user's name in a label; a name that is not a valid label value makes a pod the API
    server refuses (422) before any admission check sees it."""
    template = make_template(namespace)
    template["spec"]["pods"][0]["labels"]["user"] = "{jupyterhub.user.name}"
    admin.create(template)
    instance = make_instance(namespace, "dora")
    instance["spec"]["variables"]["jupyterhub.user.name"] = "dora the explorer!"
    hub.create(instance)
    invalid = wait_condition(admin, namespace, "dora", "Degraded", reason="Invalid")
    message = condition(invalid, "Degraded")["message"]
    assert "creating Pod" in message and "metadata.labels: Invalid value: \"dora the explorer!\"" in message
    assert condition(invalid, "Progressing")["status"] == "False"
    assert invalid["status"]["pods"]["notebook"]["state"] == "Error"
    assert labelled(admin, kube.POD, namespace, "dora") == []


def test_a_refusal_by_rbac_is_an_api_error_that_is_retried_until_rbac_allows_it(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path,
    quick: processes.Component
) -> None:
    """The admin allowed the operator ConfigMaps in its settings but not in its RBAC: the instance says so, keeps
    trying, and is Ready once the RBAC is granted. (This module's operator steps aside for one so configured.)"""
    others = [{"name": "settings", "apiVersion": "v1", "kind": "ConfigMap",
               "body": {"data": {"user": "{jupyterhub.user.name}"}}}]
    admin.create(make_template(namespace, others=others))
    quick.stop()
    with processes.operator(cluster, tmp_path, identity="no-rbac", allowed_kinds='["v1/ConfigMap"]',
                            retry_max_seconds=1):
        hub.create(make_instance(namespace, "eve"))
        failing = wait_condition(admin, namespace, "eve", "Degraded", reason="ApiError")
        message = condition(failing, "Degraded")["message"]
        # It looks before it creates, so the first thing RBAC refuses is the read.
        assert message.startswith("reading ConfigMap ") and 'cannot get resource "configmaps"' in message
        assert condition(failing, "Progressing")["status"] == "True"
        admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": "operator-configmaps", "namespace": namespace},
                      "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]}]})
        admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {"name": "operator-configmaps", "namespace": namespace},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "operator-configmaps"},
                      "subjects": [{"kind": "ServiceAccount", "name": "jupyternetes-operator",
                                    "namespace": cluster.config.system_namespace}]})
        ready = wait_condition(admin, namespace, "eve", "Ready", timeout=60)
    quick.start()
    assert condition(ready, "Degraded")["reason"] == "AsExpected"
    assert ready["status"]["otherResources"]["settings"]["state"] == "Provisioned"


def test_with_the_webhook_down_a_pod_it_must_judge_waits_as_admission_unavailable_then_recovers(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component
) -> None:
    """The webhook stays registered (it fails closed) but stops answering; the operator must make a pod again. The
    instance says admission is unavailable and keeps trying; once the webhook is back the pod is made."""
    with webhook_stack(cluster) as stack:
        admin.create(make_template(namespace))
        hub.create(make_instance(namespace, "fern"))
        ready = wait_condition(admin, namespace, "fern", "Ready")
        pod_name = ready["status"]["pods"]["notebook"]["resourceName"]
        old_uid = admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"]
        port = stack.webhook.port
        stack.webhook.process.stop()
        admin.delete(kube.POD, pod_name, namespace)
        down = wait_condition(admin, namespace, "fern", "Degraded", reason="AdmissionUnavailable")
        message = condition(down, "Degraded")["message"]
        assert f"creating Pod {pod_name}" in message and "failed calling webhook" in message
        assert condition(down, "Progressing")["status"] == "True"
        assert condition(down, "Ready")["status"] == "False"
        assert not admin.exists(kube.POD, pod_name, namespace)
        stack.webhook = components.start_webhook(cluster, stack.opa_url, port=port)
        back = wait_condition(admin, namespace, "fern", "Ready", timeout=60)
    assert condition(back, "Degraded")["reason"] == "AsExpected"
    assert admin.get(kube.POD, pod_name, namespace)["metadata"]["uid"] != old_uid


def test_every_reason_the_operator_can_report_is_produced_by_an_integration_test() -> None:
    """Reads the suite: each REASON_ constant must be waited for, in a test that runs against the API server, with
    `reason="..."` or through a module's `_degraded(admin, name, "...")` helper, or asserted as a condition's
    reason."""
    declared = {value for name, value in vars(status_mod).items() if name.startswith("REASON_")}
    produced: set[str] = set()
    for path in TESTS.rglob("test_*.py"):
        text = path.read_text()
        if "pytest.mark.cluster" not in text:
            continue
        produced |= set(re.findall(r'reason="(\w+)"', text))
        produced |= set(re.findall(r'_degraded\(admin, \w+, "(\w+)"\)', text))
        produced |= set(re.findall(r'\)\["reason"\] == "(\w+)"', text))
    assert declared - produced == set(), "reasons no integration test produces"


def test_with_the_webhook_judging_status_a_pod_without_an_address_is_still_reported_then_runs(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, quick: processes.Component
) -> None:
    """Found by a red team: every status naming a port before the pod had an IP was refused, so an instance whose
    pod could not be scheduled said nothing at all. Here every node is cordoned: the instance says why it waits, with
    the webhook judging its status; uncordoned, it runs."""
    nodes = [n["metadata"]["name"] for n in admin.list(NODE)["items"]]
    with webhook_stack(cluster):
        admin.create(make_template(namespace))
        try:
            for node in nodes:
                admin.patch(NODE, node, {"spec": {"unschedulable": True}})
            hub.create(make_instance(namespace, "gus"))

            def told() -> bool:
                found = admin.get(kube.INSTANCE, "gus", namespace)
                return "no node can take the pod yet" in condition(found, "Ready").get("message", "")

            cluster_mod.wait_for("the scheduler's reason in the instance's status", told, timeout=60)
            waiting = admin.get(kube.INSTANCE, "gus", namespace)
            assert "podIP" not in waiting["status"]["pods"]["notebook"]
            assert "port" not in waiting["status"]["pods"]["notebook"]
        finally:
            for node in nodes:
                admin.patch(NODE, node, {"spec": {"unschedulable": False}})
        ready = wait_condition(admin, namespace, "gus", "Ready", timeout=60)
    assert ready["status"]["pods"]["notebook"]["podIP"]
