"""Everything an instance's pods depend on (its Secret, PVCs and pods) is observed, not assumed: one operator lifetime
sees a server stopped and started again under the same name, and objects deleted by someone else, and makes what is
missing again. Ready is never reported while something the pod needs is missing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyternetes import kube, naming
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import LocalCluster
from tests.operator.conftest import (
    condition,
    events_for,
    made_objects,
    make_instance,
    make_template,
    reasons,
    wait_condition,
)
from tests.support import processes

pytestmark = pytest.mark.cluster

SECRET_ENV = {"secretRef": {"name": "{jupyternetes.secret}"}}


@pytest.fixture(scope="module")
def fast_resync(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Component]:
    """One operator for the module, re-checking every instance every 2 s (the default is 300 s)."""
    with processes.operator(cluster, tmp_path_factory.mktemp("operator"), identity="deps", resync_seconds=2) as op:
        yield op


def _template(namespace: str) -> dict[str, Any]:
    """The seed's template, with the pod taking the instance's Secret through envFrom, as the hub's template does."""
    template = make_template(namespace)
    template["spec"]["pods"][0]["spec"]["containers"][0]["envFrom"] = [SECRET_ENV]
    return template


def _instance(namespace: str, name: str, token: str) -> dict[str, Any]:
    instance = make_instance(namespace, name)
    instance["spec"]["variables"]["jupyterhub.env.JUPYTERHUB_API_TOKEN"] = token
    return instance


def _token(secret: dict[str, Any]) -> str:
    return base64.b64decode(secret["data"]["JUPYTERHUB_API_TOKEN"]).decode()


def test_a_server_stopped_and_started_again_five_times_gets_its_own_secret_each_time(
    admin: kube.Kube, hub: kube.Kube, namespace: str, fast_resync: processes.Component
) -> None:
    admin.create(_template(namespace))
    secret_name = naming.object_name("erin", "secret")
    for round_ in range(5):
        hub.create(_instance(namespace, "erin", f"token-{round_}"))
        ready = wait_condition(admin, namespace, "erin", "Ready", timeout=60)
        try:
            secret = admin.get(kube.SECRET, secret_name, namespace)
        except kube.NotFound:
            raise AssertionError(f"round {round_}: the instance is Ready but its Secret does not exist") from None
        assert secret["metadata"]["ownerReferences"][0]["uid"] == ready["metadata"]["uid"], round_
        assert _token(secret) == f"token-{round_}"
        assert ready["status"]["secret"] == {"resourceName": secret_name, "state": "Provisioned"}
        admin.delete(kube.INSTANCE, "erin", namespace)
        cluster_mod.wait_for("the instance to go", lambda: not admin.exists(kube.INSTANCE, "erin", namespace),
                             timeout=30)


def _replaced(admin: kube.Kube, namespace: str, name: str, old_uid: str) -> bool:
    try:
        return str(admin.get(kube.SECRET, name, namespace)["metadata"]["uid"]) != old_uid
    except kube.NotFound:
        return False


def test_a_secret_deleted_by_someone_else_is_made_again_at_the_next_event(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    """Any pass looks: here a change to the pod (with the default five-minute resync, so not the resync)."""
    admin.create(_template(namespace))
    with processes.operator(cluster, tmp_path, identity="events-only"):
        hub.create(_instance(namespace, "fred", "t0k"))
        ready = wait_condition(admin, namespace, "fred", "Ready")
        secret_name = naming.object_name("fred", "secret")
        old_uid = admin.get(kube.SECRET, secret_name, namespace)["metadata"]["uid"]
        admin.delete(kube.SECRET, secret_name, namespace)
        admin.patch(kube.POD, ready["status"]["pods"]["notebook"]["resourceName"],
                    {"metadata": {"annotations": {"poke": "1"}}}, namespace)
        cluster_mod.wait_for("the operator to make the Secret again",
                             lambda: _replaced(admin, namespace, secret_name, old_uid), timeout=30, interval=0.2)
        assert _token(admin.get(kube.SECRET, secret_name, namespace)) == "t0k"
        cluster_mod.wait_for("the Recreated event", lambda: "Recreated" in reasons(admin, namespace, "fred"),
                             timeout=10)


def test_a_secret_deleted_while_nothing_else_happens_is_made_again_at_the_next_resync(
    admin: kube.Kube, hub: kube.Kube, namespace: str, fast_resync: processes.Component
) -> None:
    admin.create(_template(namespace))
    hub.create(_instance(namespace, "fay", "t0k"))
    wait_condition(admin, namespace, "fay", "Ready")
    secret_name = naming.object_name("fay", "secret")
    old_uid = admin.get(kube.SECRET, secret_name, namespace)["metadata"]["uid"]
    admin.delete(kube.SECRET, secret_name, namespace)
    cluster_mod.wait_for("the operator to make the Secret again",
                         lambda: _replaced(admin, namespace, secret_name, old_uid), timeout=30, interval=0.2)
    wait_condition(admin, namespace, "fay", "Ready")


def test_while_a_workspace_pvc_is_being_deleted_the_instance_is_not_ready_and_says_why_then_recovers(
    admin: kube.Kube, hub: kube.Kube, namespace: str, fast_resync: processes.Component
) -> None:
    admin.create(_template(namespace))
    hub.create(_instance(namespace, "gwen", "t0k"))
    ready = wait_condition(admin, namespace, "gwen", "Ready")
    pvc_name = ready["status"]["pvcs"]["workspace"]["resourceName"]
    pod_name = ready["status"]["pods"]["notebook"]["resourceName"]
    old_pvc = admin.get(kube.PVC, pvc_name, namespace)["metadata"]["uid"]
    admin.delete(kube.PVC, pvc_name, namespace)  # held by pvc-protection while the pod uses it
    waiting = wait_condition(admin, namespace, "gwen", "Ready", status="False", reason="Waiting")
    assert "being deleted" in condition(waiting, "Ready")["message"]
    assert pvc_name in condition(waiting, "Ready")["message"]
    # Once the pod that held it goes too, the operator makes both again, the PVC first.
    admin.delete(kube.POD, pod_name, namespace)
    again = wait_condition(admin, namespace, "gwen", "Ready", timeout=90)
    assert admin.get(kube.PVC, pvc_name, namespace)["metadata"]["uid"] != old_pvc
    assert again["status"]["pods"]["notebook"]["state"] == "Running"


def test_pods_are_not_created_while_the_secret_they_read_cannot_be_made(
    admin: kube.Kube, hub: kube.Kube, namespace: str, fast_resync: processes.Component
) -> None:
    """Someone else's object holds the Secret's name: Jupyternetes never uses it, the pods wait, and Ready stays
    False with a message naming the object; once it is removed, the operator makes its own."""
    secret_name = naming.object_name("hana", "secret")
    admin.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name, "namespace": namespace},
                  "stringData": {"JUPYTERHUB_API_TOKEN": "not-yours"}})
    admin.create(_template(namespace))
    hub.create(_instance(namespace, "hana", "t0k"))
    degraded = wait_condition(admin, namespace, "hana", "Degraded", reason="NameConflict")
    message = condition(degraded, "Degraded")["message"]
    assert f"Secret {namespace}/{secret_name} already exists" in message and "will not use it" in message
    assert condition(degraded, "Ready")["status"] == "False"
    assert not admin.exists(kube.POD, naming.object_name("hana", "notebook"), namespace)
    admin.delete(kube.SECRET, secret_name, namespace)
    ready = wait_condition(admin, namespace, "hana", "Ready", timeout=60)
    assert _token(admin.get(kube.SECRET, secret_name, namespace)) == "t0k"
    assert admin.get(kube.SECRET, secret_name, namespace)["metadata"]["ownerReferences"][0]["uid"] == \
        ready["metadata"]["uid"]


def test_an_operator_restarted_against_a_running_server_finds_its_own_secret_and_keeps_it(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path
) -> None:
    """A fresh process has no cache: it reads the Secret it made before, knows it as its own by the owner uid, and
    neither makes another nor calls it a conflict."""
    admin.create(_template(namespace))
    with processes.operator(cluster, tmp_path, identity="first"):
        hub.create(_instance(namespace, "ivan", "t0k"))
        first = wait_condition(admin, namespace, "ivan", "Ready")
    secret = admin.get(kube.SECRET, naming.object_name("ivan", "secret"), namespace)
    pod_name = first["status"]["pods"]["notebook"]["resourceName"]
    admin.delete(kube.POD, pod_name, namespace)  # work for the second operator, so that we know it has looked
    with processes.operator(cluster, tmp_path, identity="second"):
        cluster_mod.wait_for("the second operator to make the pod again",
                             lambda: "Recreated" in reasons(admin, namespace, "ivan"), timeout=60)
        wait_condition(admin, namespace, "ivan", "Ready")
    after = admin.get(kube.SECRET, secret["metadata"]["name"], namespace)
    assert after["metadata"]["uid"] == secret["metadata"]["uid"]
    created = made_objects(events_for(admin, namespace, "ivan"))
    assert created == sorted([["Secret", secret["metadata"]["name"]], ["Pod", pod_name],
                              ["PersistentVolumeClaim", first["status"]["pvcs"]["workspace"]["resourceName"]]])
    assert "NameConflict" not in reasons(admin, namespace, "ivan")


def test_an_other_resource_deleted_by_someone_else_is_made_again_at_the_next_resync(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path,
    fast_resync: processes.Component
) -> None:
    """A template's allowlisted ConfigMap (an `otherResources` entry, not watched) is deleted while the server runs:
    the next pass reads it by name, finds it gone, and makes it again with the same content and owner. (This
    module's operator steps aside for one that may make ConfigMaps.)"""
    fast_resync.stop()
    rbac_v1 = "rbac.authorization.k8s.io/v1"
    admin.create({"apiVersion": rbac_v1, "kind": "Role", "metadata": {"name": "operator-configmaps",
                                                                       "namespace": namespace},
                  "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]}]})
    admin.create({"apiVersion": rbac_v1, "kind": "RoleBinding",
                  "metadata": {"name": "operator-configmaps", "namespace": namespace},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operator-configmaps"},
                  "subjects": [{"kind": "ServiceAccount", "name": "jupyternetes-operator",
                                "namespace": cluster.config.system_namespace}]})
    template = _template(namespace)
    template["spec"]["otherResources"] = [{"name": "settings", "apiVersion": "v1", "kind": "ConfigMap",
                                           "body": {"data": {"user": "{jupyterhub.user.name}"}}}]
    admin.create(template)
    with processes.operator(cluster, tmp_path, identity="others", resync_seconds=2,
                            allowed_kinds='["v1/ConfigMap"]'):
        hub.create(_instance(namespace, "gail", "t0k"))
        ready = wait_condition(admin, namespace, "gail", "Ready")
        name = ready["status"]["otherResources"]["settings"]["resourceName"]
        before = admin.get(kube.CONFIG_MAP, name, namespace)
        admin.delete(kube.CONFIG_MAP, name, namespace)

        def remade() -> bool:
            try:
                return str(admin.get(kube.CONFIG_MAP, name, namespace)["metadata"]["uid"]) != before["metadata"]["uid"]
            except kube.NotFound:
                return False

        cluster_mod.wait_for("the operator to make the ConfigMap again", remade, timeout=30, interval=0.2)
        cluster_mod.wait_for("the Recreated event", lambda: "Recreated" in reasons(admin, namespace, "gail"),
                             timeout=10)
        wait_condition(admin, namespace, "gail", "Ready")
    fast_resync.start()
    after = admin.get(kube.CONFIG_MAP, name, namespace)
    assert after["data"] == before["data"] == {"user": ready["spec"]["variables"]["jupyterhub.user.name"]}
    assert [r["uid"] for r in after["metadata"]["ownerReferences"]] == [ready["metadata"]["uid"]]
