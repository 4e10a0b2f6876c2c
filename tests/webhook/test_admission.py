"""The webhook in the real API server's path, called over TLS, with OPA and the shipped policies."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import uuid
from typing import Any

import pytest
import yaml

from jupyternetes import constants, kube, models, render
from jupyternetes.dev.cluster import ADMIN, HUB, OFFICER, OPERATOR, LocalCluster
from jupyternetes.webhook.lookup import CachedLookup
from tests import seeds
from tests.support.relay import Relay
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster

#: A template only these tests use, so it is certainly stored through the webhook (and so mutated).
TEMPLATE = "webhook-tests"


def _apply(cluster: LocalCluster, doc: dict[str, Any], identity: str, *extra: str) -> Any:
    return cluster.kubectl("apply", "-f", "-", *extra, identity=identity, input=yaml.safe_dump(doc))


def _template(name: str, edit: Any = None) -> dict[str, Any]:
    template = seeds.seed_template()
    template["metadata"]["name"] = name
    if edit:
        edit(template["spec"]["pods"][0]["spec"])
    return template


def _instance(name: str, template: str = TEMPLATE, **variables: str) -> dict[str, Any]:
    instance = seeds.seed_instance()
    instance.pop("status")
    instance["metadata"]["name"] = name
    instance["spec"]["template"]["name"] = template
    instance["spec"]["variables"]["jupyternetes.instance.name"] = name
    instance["spec"]["variables"].update(variables)
    return instance




class TestTemplates:
    def test_the_seed_template_is_admitted_with_its_secure_defaults_filled_in_and_reported(
        self, cluster: LocalCluster, admin: kube.Kube, stack: Stack
    ) -> None:
        done = _apply(cluster, _template("seed-copy"), OFFICER)
        assert done.returncode == 0, done.stderr
        assert "Jupyternetes default: spec.pods[0].spec.securityContext.runAsNonRoot: set to true" in done.stderr
        stored = admin.get(kube.TEMPLATE, "seed-copy", "kadense")["spec"]["pods"][0]["spec"]
        assert stored["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert stored["automountServiceAccountToken"] is False
        assert stored["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False,
                                                              "capabilities": {"drop": ["ALL"]}}

    def test_a_disallowed_image_is_refused_by_kubectl_apply_with_the_webhooks_message(
        self, cluster: LocalCluster, admin: kube.Kube, stack: Stack
    ) -> None:
        def evil(spec: dict[str, Any]) -> None:
            spec["containers"][0]["image"] = "docker.io/evil/cryptominer:latest"
        done = _apply(cluster, _template("evil-image", evil), OFFICER)
        assert done.returncode != 0
        assert 'admission webhook "templates.validate.jupyternetes.kadense.io" denied the request' in done.stderr
        assert 'image "docker.io/evil/cryptominer:latest" (repository docker.io/evil/cryptominer) is not on the ' \
               "allowlist (rule images)" in done.stderr
        assert "spec.pods[0].spec.containers[0].image" in done.stderr
        assert not admin.exists(kube.TEMPLATE, "evil-image", "kadense")

    def test_a_privileged_container_is_refused(self, cluster: LocalCluster, admin: kube.Kube, stack: Stack) -> None:
        def privileged(spec: dict[str, Any]) -> None:
            spec["containers"][0]["securityContext"] = {"privileged": True}
            spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
        done = _apply(cluster, _template("privileged", privileged), OFFICER)
        assert done.returncode != 0
        assert "spec.pods[0].spec.containers[0].securityContext.privileged: privileged containers are forbidden " \
               "(rule floor:privileged)" in done.stderr
        assert "spec.pods[0].spec.volumes[1].hostPath" in done.stderr  # every violation, together
        assert not admin.exists(kube.TEMPLATE, "privileged", "kadense")

    def test_server_side_dry_run_gets_the_same_verdict_and_stores_nothing(self, cluster: LocalCluster,
                                                                         admin: kube.Kube, stack: Stack) -> None:
        def privileged(spec: dict[str, Any]) -> None:
            spec["hostPID"] = True
        refused = _apply(cluster, _template("dry-bad", privileged), OFFICER, "--dry-run=server")
        assert refused.returncode != 0 and "rule floor:host-namespaces" in refused.stderr
        admitted = _apply(cluster, _template("dry-good"), OFFICER, "--dry-run=server")
        assert admitted.returncode == 0, admitted.stderr
        assert not admin.exists(kube.TEMPLATE, "dry-good", "kadense")


class TestInstances:
    def test_the_hub_may_create_an_instance_and_is_warned_about_a_plain_text_token(
        self, cluster: LocalCluster, stack: Stack
    ) -> None:
        assert _apply(cluster, _template(TEMPLATE), OFFICER).returncode == 0
        done = _apply(cluster, _instance("by-the-hub"), HUB)
        assert done.returncode == 0, done.stderr
        assert "holds a secret in plain text" in done.stderr

    def test_nobody_else_may_create_instances_not_even_an_admin(self, cluster: LocalCluster, stack: Stack) -> None:
        """The admission policy refuses first, inside the API server; the webhook's own rule (instance-creators)
        is tested without the policy in tests/security/test_admission_layers.py."""
        done = _apply(cluster, _instance("by-the-admin"), ADMIN)
        assert done.returncode != 0
        assert "ValidatingAdmissionPolicy 'jupyternetes-instances-come-from-the-hub'" in done.stderr
        assert "jupyternetes-admin may not create notebook instances; JupyterHub creates them" in done.stderr

    def test_an_instance_may_not_change_after_creation(self, cluster: LocalCluster, stack: Stack) -> None:
        assert _apply(cluster, _template(TEMPLATE), OFFICER).returncode == 0
        assert _apply(cluster, _instance("frozen"), HUB).returncode == 0
        # The hub cannot even try (RBAC gives it no update); an admin, who can, is stopped by the admission policy.
        assert "cannot patch resource" in _apply(cluster, _instance("frozen", **{"jupyterhub.user.name": "x"}),
                                                 HUB).stderr
        done = _apply(cluster, _instance("frozen", **{"jupyterhub.user.name": "root"}), ADMIN)
        assert done.returncode != 0
        assert "ValidatingAdmissionPolicy 'jupyternetes-instances-come-from-the-hub'" in done.stderr
        assert "an instance's spec cannot change after creation" in done.stderr

    def test_hostile_variable_values_are_refused(self, cluster: LocalCluster, stack: Stack) -> None:
        assert _apply(cluster, _template(TEMPLATE), OFFICER).returncode == 0
        done = _apply(cluster, _instance("hostile", **{"jupyterhub.user.id": "1\nprivileged: true",
                                                       "image": "docker.io/evil/x"}), HUB)
        assert done.returncode != 0
        assert '"jupyterhub.user.id" does not match the pattern' in done.stderr
        assert "neither used by the template nor defined by the spawner" in done.stderr


class TestWorkloads:
    def _rendered_pod(self, admin: kube.Kube, cluster: LocalCluster, name: str) -> tuple[dict[str, Any], dict]:
        assert _apply(cluster, _template(TEMPLATE), OFFICER).returncode == 0
        assert _apply(cluster, _instance(name), HUB).returncode == 0
        instance = admin.get(kube.INSTANCE, name, "default")
        template = admin.get(kube.TEMPLATE, TEMPLATE, "kadense")
        pod = copy.deepcopy(render.render(models.parse_template(template), models.parse_instance(instance))
                            .pods[0].manifest)
        pod["metadata"]["ownerReferences"] = [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND,
                                               "name": name, "uid": instance["metadata"]["uid"], "controller": True}]
        return pod, instance

    def test_a_pod_with_jupyternetes_labels_from_anyone_but_the_operator_is_refused(
        self, cluster: LocalCluster, admin: kube.Kube, stack: Stack
    ) -> None:
        pod, _ = self._rendered_pod(admin, cluster, "labelled-by-admin")
        with pytest.raises(kube.Forbidden) as refused:
            admin.create(pod)
        assert "ValidatingAdmissionPolicy 'jupyternetes-objects-belong-to-the-operator'" in refused.value.message
        assert "only the Jupyternetes operator may create pods that carry Jupyternetes labels" in \
            refused.value.message
        assert not admin.exists(kube.POD, pod["metadata"]["name"], "default")

    def test_the_operator_may_create_exactly_the_rendering_and_nothing_else(
        self, cluster: LocalCluster, admin: kube.Kube, stack: Stack
    ) -> None:
        pod, _ = self._rendered_pod(admin, cluster, "operator-made")
        with cluster.kube(OPERATOR) as operator:
            tampered = copy.deepcopy(pod)
            tampered["spec"]["containers"][0]["image"] = "quay.io/jupyter/scipy-notebook:latest"
            tampered["spec"]["containers"][0]["env"].append({"name": "EXTRA", "value": "1"})
            with pytest.raises(kube.Forbidden) as refused:
                operator.create(tampered)
            assert f"spec.containers[0].image: differs from what template {TEMPLATE} renders" in \
                refused.value.message
            assert "spec.containers[0].env" in refused.value.message
            created = operator.create(pod, dryRun="All")
        assert created["spec"]["securityContext"]["runAsNonRoot"] is True

    def test_labelling_an_existing_pod_into_jupyternetes_is_refused(self, admin: kube.Kube, stack: Stack,
                                                                    namespace: str) -> None:
        admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mine", "namespace": namespace},
                      "spec": {"containers": [{"name": "c", "image": "example.invalid/x:1"}]}})
        with pytest.raises(kube.Forbidden) as refused:
            admin.patch(kube.POD, "mine", {"metadata": {
                "labels": {constants.LABEL_INSTANCE: "someone"},
                "annotations": {constants.ANNOTATION_INSTANCE_NAME: "someone"}}}, namespace)
        assert "ValidatingAdmissionPolicy 'jupyternetes-objects-belong-to-the-operator'" in refused.value.message
        assert "cannot be added, changed or removed after creation" in refused.value.message


def test_malformed_reviews_sent_straight_to_the_webhook_never_get_a_500_or_an_allow(stack: Stack) -> None:
    import httpx

    with httpx.Client(base_url=stack.webhook.url, verify=False, timeout=10) as client:
        bodies: list[bytes] = [
            b"{not json",
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}).encode(),
            json.dumps({"apiVersion": "v1", "kind": "Pod"}).encode(),
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "u", "kind": {"group": "coordination.k8s.io", "version": "v1", "kind": "Lease"},
                "resource": {"group": "coordination.k8s.io", "version": "v1", "resource": "leases"},
                "operation": "CREATE",
                "object": {}}}).encode(),
            b"x" * (3 * 1024 * 1024 + 1),
        ]
        for body in bodies:
            for path in ("/validate", "/mutate"):
                response = client.post(path, content=body, headers={"Content-Type": "application/json"})
                assert response.status_code in (200, 400, 413), response.text
                if response.status_code == 200:
                    assert response.json()["response"]["allowed"] is False


class _CountingKube(kube.AsyncKube):
    """The real client, counting its lists of every instance."""

    lists = 0

    async def list(self, rt: kube.ResourceType, namespace: str | None = None, **params: Any) -> dict[str, Any]:
        if rt == kube.INSTANCE and namespace is None:
            self.lists += 1
        return await super().list(rt, namespace, **params)


async def test_a_template_deletions_list_of_instances_is_shared_but_never_begun_before_its_caller_came(
    cluster: LocalCluster, admin: kube.Kube, stack: Stack
) -> None:
    """Anything that reaches the webhook's port can send a template's deletion, and each one lists every instance
    in the cluster. Those lists are made one at a time, and the callers that come while one runs share the next,
    which begins after all of them came: an instance made a moment before a caller came is in its answer. Through
    a relay that holds each answer 0.5 s: one caller, then an instance made while its list is under way, then
    twenty callers. Two lists in all; the first caller's does not have the instance, and all twenty have it."""
    assert _apply(cluster, _template(TEMPLATE), OFFICER).returncode == 0
    config = kube.KubeConfig.from_file(cluster.kubeconfig(ADMIN))
    relay = Relay(config.server)
    api = _CountingKube(dataclasses.replace(config, server=f"https://127.0.0.1:{await relay.start()}"), timeout=10)
    lookup = CachedLookup(api)
    name = f"listed-{uuid.uuid4().hex[:8]}"
    try:
        await api.list(kube.INSTANCE)  # the connection (and its TLS handshake) is made before the delay
        api.lists = 0
        relay.delay = 0.5
        first = asyncio.ensure_future(lookup.instances_using("kadense", TEMPLATE))
        await asyncio.sleep(0.2)
        made = await asyncio.to_thread(_apply, cluster, _instance(name), HUB)
        assert made.returncode == 0, made.stderr
        assert not first.done(), "the first list ended before the instance was made; this test would prove nothing"
        later = await asyncio.gather(*(lookup.instances_using("kadense", TEMPLATE) for _ in range(20)))
        assert f"default/{name}" not in await first
        assert all(f"default/{name}" in answer for answer in later), later
        assert api.lists == 2
    finally:
        await api.aclose()
        relay.close()
        with contextlib.suppress(kube.NotFound):
            admin.delete(kube.INSTANCE, name, "default")


async def test_a_failed_list_of_instances_fails_everyone_who_shared_it_and_the_next_caller_gets_a_new_one(
    cluster: LocalCluster, stack: Stack
) -> None:
    """A template's deletion is refused when the webhook cannot list the instances (fail closed): every caller that
    shared a list that failed gets its error, and nothing of it is kept for the next. Five callers share a list
    held by a relay; the relay is closed under it; a caller after that, through a new relay on the same port, gets
    an answer from a new list."""
    config = kube.KubeConfig.from_file(cluster.kubeconfig(ADMIN))
    relay = Relay(config.server)
    port = await relay.start()
    api = _CountingKube(dataclasses.replace(config, server=f"https://127.0.0.1:{port}"), timeout=10)
    lookup = CachedLookup(api)
    again = Relay(config.server)
    try:
        await api.list(kube.INSTANCE)
        api.lists = 0
        relay.delay = 1.0
        sharing = [asyncio.ensure_future(lookup.instances_using("kadense", TEMPLATE)) for _ in range(5)]
        await asyncio.sleep(0.3)
        relay.close()
        answers = await asyncio.gather(*sharing, return_exceptions=True)
        assert all(isinstance(answer, kube.ApiError) for answer in answers), answers
        await again.start(port)
        assert isinstance(await lookup.instances_using("kadense", TEMPLATE), list)
        assert api.lists == 2
    finally:
        await api.aclose()
        relay.close()
        again.close()


async def test_a_list_of_instances_longer_than_the_review_timeout_fails_naming_it(cluster: LocalCluster) -> None:
    """A list that outlives the API server's timeout for the review that asked serves nobody and would hold up the
    next: the webhook gives it `timeout_seconds`. Through a relay that holds the answer 1.5 s, with a 0.5 s limit."""
    config = kube.KubeConfig.from_file(cluster.kubeconfig(ADMIN))
    relay = Relay(config.server)
    api = kube.AsyncKube(dataclasses.replace(config, server=f"https://127.0.0.1:{await relay.start()}"), timeout=10)
    lookup = CachedLookup(api, list_seconds=0.5)
    try:
        await api.list(kube.INSTANCE)
        relay.delay = 1.5
        with pytest.raises(RuntimeError, match="the list of every instance took longer than 0.5 s"):
            await lookup.instances_using("kadense", TEMPLATE)
        relay.delay = 0
        assert isinstance(await lookup.instances_using("kadense", TEMPLATE), list)
    finally:
        await api.aclose()
        relay.close()


async def test_a_webhook_stopping_refuses_the_deletions_waiting_for_a_list_and_leaves_nothing_stuck(
    cluster: LocalCluster
) -> None:
    """Found by a review: a list cancelled before it began (the webhook stopping) left its callers, and every later
    one, waiting for ever. The callers now get an error at once, and the next call lists again."""
    async with cluster.async_kube() as api:
        lookup = CachedLookup(api)
        waiting = asyncio.ensure_future(lookup.instances_using("kadense", TEMPLATE))
        await asyncio.sleep(0)  # the caller has made the list's task, which has not run yet
        await lookup.stop()
        with pytest.raises(RuntimeError, match="the webhook is stopping"):
            await asyncio.wait_for(waiting, 5)
        assert isinstance(await asyncio.wait_for(lookup.instances_using("kadense", TEMPLATE), 10), list)
