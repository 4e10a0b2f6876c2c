"""Templates in use are safe to change: one that instances use cannot be deleted, and changing one never changes a
running server, whose status says which template generation it was rendered from."""

from __future__ import annotations

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from tests.operator.conftest import condition, wait_condition
from tests.security.drills import refused_by, unique
from tests.support import processes
from tests.tre.conftest import NAMESPACE, instance, store, template

pytestmark = pytest.mark.cluster


def _gone(admin: kube.Kube, rt: kube.ResourceType, name: str, namespace: str) -> None:
    cluster_mod.wait_for(f"{name} to go", lambda: not admin.exists(rt, name, namespace), timeout=60, interval=0.2)


def test_a_template_in_use_cannot_be_deleted_until_its_servers_are_stopped(
    admin: kube.Kube, hub: kube.Kube, officer: kube.Kube, operator: processes.Component
) -> None:
    store(officer, template("tre-open"))
    name = unique("in-use")
    hub.create(instance(name, "tre-open"))
    with pytest.raises(kube.Forbidden) as refused:
        officer.delete(kube.TEMPLATE, "tre-open", "kadense")
    assert refused_by(refused.value.message) == "webhook:templates.validate.jupyternetes.kadense.io"
    assert f"notebook instance(s) still use it: {NAMESPACE}/{name}" in refused.value.message
    assert "stop those servers first" in refused.value.message
    assert officer.exists(kube.TEMPLATE, "tre-open", "kadense")
    hub.delete(kube.INSTANCE, name, NAMESPACE)
    _gone(admin, kube.INSTANCE, name, NAMESPACE)
    officer.delete(kube.TEMPLATE, "tre-open", "kadense")
    _gone(admin, kube.TEMPLATE, "tre-open", "kadense")


def test_a_template_nobody_uses_is_deleted_at_once(admin: kube.Kube, officer: kube.Kube) -> None:
    store(officer, template("tre-unused"))
    officer.delete(kube.TEMPLATE, "tre-unused", "kadense")
    _gone(admin, kube.TEMPLATE, "tre-unused", "kadense")


def test_changing_a_template_never_changes_a_running_server_and_the_next_start_uses_the_new_version(
    admin: kube.Kube, hub: kube.Kube, officer: kube.Kube, operator: processes.Component
) -> None:
    first = store(officer, template("tre-changing"))
    old = unique("old")
    hub.create(instance(old, "tre-changing"))
    ready = wait_condition(admin, NAMESPACE, old, "Ready")
    assert ready["status"]["template"] == {"name": "tre-changing", "namespace": "kadense",
                                           "uid": first["metadata"]["uid"],
                                           "generation": first["metadata"]["generation"]}
    pod_name = ready["status"]["pods"]["notebook"]["resourceName"]
    pod = admin.get(kube.POD, pod_name, NAMESPACE)

    changed = template("tre-changing")
    changed["spec"]["pods"][0]["spec"]["containers"][0]["env"] = [{"name": "VERSION", "value": "2"}]
    second = store(officer, changed)
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1

    new = unique("new")
    hub.create(instance(new, "tre-changing"))
    renewed = wait_condition(admin, NAMESPACE, new, "Ready")
    assert renewed["status"]["template"]["generation"] == second["metadata"]["generation"]
    new_pod = admin.get(kube.POD, renewed["status"]["pods"]["notebook"]["resourceName"], NAMESPACE)
    assert new_pod["spec"]["containers"][0]["env"] == [{"name": "VERSION", "value": "2"}]

    still = admin.get(kube.POD, pod_name, NAMESPACE)
    assert still["metadata"]["uid"] == pod["metadata"]["uid"] and still["spec"] == pod["spec"]
    assert admin.get(kube.INSTANCE, old, NAMESPACE)["status"]["template"]["generation"] == \
        first["metadata"]["generation"]

    # The old server's pod goes (a node fails, say): it is not rebuilt from the new version, and the hub hears why.
    admin.delete(kube.POD, pod_name, NAMESPACE, gracePeriodSeconds=0)
    failed = wait_condition(admin, NAMESPACE, old, "Degraded", reason="TemplateChanged")
    assert (f"changed since this server started (generation {first['metadata']['generation']}, now "
            f"{second['metadata']['generation']})") in condition(failed, "Degraded")["message"]
    assert condition(failed, "Progressing")["status"] == "False"
    assert not admin.exists(kube.POD, pod_name, NAMESPACE)
    for name in (old, new):
        hub.delete(kube.INSTANCE, name, NAMESPACE)


def test_a_collection_delete_is_refused_for_a_template_in_use_too(
    admin: kube.Kube, hub: kube.Kube, officer: kube.Kube
) -> None:
    """Found by a red team: `kubectl delete --all` and the namespace controller delete a collection, and each review
    names its template only in oldObject; the check looked at the request's empty name and let it through."""
    store(officer, template("tre-open"))
    name = unique("pinned")
    hub.create(instance(name, "tre-open"))
    try:
        with pytest.raises(kube.ApiError) as refused:
            admin.request("DELETE", kube.TEMPLATE.path("kadense"), params={"fieldSelector": "metadata.name=tre-open"})
        assert "template-in-use" in refused.value.message and f"{NAMESPACE}/{name}" in refused.value.message
        assert admin.exists(kube.TEMPLATE, "tre-open", "kadense")
    finally:
        hub.delete(kube.INSTANCE, name, NAMESPACE)
