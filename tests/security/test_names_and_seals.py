"""Drills on what a breached hub puts into an instance: names that try to be paths, and sealed variables that try to
get past the checks plain ones get, or to be replayed into another instance. Each runs against the real API server
with the CRDs, the admission policies, the webhook and the real operator; each must fail for its own reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from jupyternetes import kube, naming, sealing
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from jupyternetes.dev.cluster import LocalCluster
from tests.security.drills import NAMESPACE, instance, refused_by, unique
from tests.support import processes

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def public_key(cluster: LocalCluster) -> sealing.PublicKey:
    return sealing.load_public_key(components.sealing_keys(cluster)[1].read_bytes())


def _degraded(admin: kube.Kube, name: str, reason: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def check() -> bool:
        nonlocal found
        found = admin.get(kube.INSTANCE, name, NAMESPACE)
        return any(c["type"] == "Degraded" and c["status"] == "True" and c["reason"] == reason
                   for c in (found.get("status") or {}).get("conditions", []))

    cluster_mod.wait_for(f"{name} to be Degraded with {reason}", check, timeout=60, interval=0.2)
    return next(c for c in found["status"]["conditions"] if c["type"] == "Degraded")


def _nothing_made(admin: kube.Kube, name: str) -> None:
    for rt, entry in ((kube.POD, "notebook"), (kube.SECRET, "secret")):
        assert not admin.exists(rt, naming.object_name(name, entry), NAMESPACE), (rt.kind, name)


@pytest.fixture
def cleanup(hub: kube.Kube) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        try:
            hub.delete(kube.INSTANCE, name, NAMESPACE)
        except kube.NotFound:
            pass


class TestNamesStayNames:
    @pytest.mark.parametrize(("field", "value"), [
        ("name", "../../api/v1/namespaces/kube-system/secrets/x"),
        ("name", "drill-template/status"),
        ("name", "Drill-Template"),
        ("name", "x" * 254),
        ("name", "a%2Fb"),
        ("namespace", "kadense/../kube-system"),
        ("namespace", "kube-system/"),
        ("namespace", "x" * 64),
        ("namespace", ".."),
    ])
    def test_a_template_reference_that_is_not_a_kubernetes_name_is_refused_by_the_schema(
        self, hub: kube.Kube, admin: kube.Kube, field: str, value: str
    ) -> None:
        name = unique("drill-path")
        body = instance(name)
        body["spec"]["template"][field] = value
        with pytest.raises(kube.ApiError) as refused:
            hub.create(body)
        assert refused.value.status == 422, refused.value.message
        assert f"spec.template.{field}" in refused.value.message
        assert not admin.exists(kube.INSTANCE, name, NAMESPACE)

    @pytest.mark.parametrize("variable", ["../x", "a/b", "-leading-dash", "with space", "x" * 254, "new\nline"])
    def test_a_variable_name_that_could_not_be_a_placeholder_is_refused_by_the_schema(
        self, hub: kube.Kube, admin: kube.Kube, variable: str
    ) -> None:
        for field in ("variables", "sealedVariables"):
            name = unique("drill-varname")
            body = instance(name)
            body["spec"].setdefault(field, {})[variable] = "x"
            with pytest.raises(kube.ApiError) as refused:
                hub.create(body)
            assert refused.value.status == 422 and f"spec.{field}" in refused.value.message, refused.value.message
            assert not admin.exists(kube.INSTANCE, name, NAMESPACE)

    def test_the_client_refuses_to_build_a_path_from_a_value_that_is_not_a_name(self) -> None:
        for value in ("..", ".", "a/b", "x\n", "a%2F"):
            with pytest.raises(ValueError, match="is not a Kubernetes object name"):
                kube.TEMPLATE.path("kadense", value)
            with pytest.raises(ValueError, match="is not a Kubernetes object name"):
                kube.TEMPLATE.path(value, "t")
            with pytest.raises(ValueError, match="is not a Kubernetes object name"):
                kube.INSTANCE.path("default", "i", value)
        assert kube.TEMPLATE.path("kadense", "a.b-c") == "/apis/kadense.io/v1/namespaces/kadense/" \
                                                         "jupyternotebooktemplates/a.b-c"


class TestSealedVariablesGetEveryCheck:
    def _sealed(self, public: sealing.PublicKey, name: str, values: dict[str, str],
                **variables: str) -> dict[str, Any]:
        """An instance as the spawner makes it: `values` sealed for exactly this instance (and not in plain)."""
        body = instance(name, **variables)
        spec = body["spec"]
        for variable in values:
            spec["variables"].pop(variable, None)
        bound = sealing.binding(namespace=NAMESPACE, instance=name, template_name=spec["template"]["name"],
                                template_namespace=spec["template"]["namespace"], variables=spec["variables"])
        spec["sealedVariables"] = sealing.seal_instance(public, values, bound_to=bound)
        return body

    @pytest.mark.parametrize(("variable", "words"), [
        ("jupyternetes.instance.name", ["spec.sealedVariables['jupyternetes.instance.name']",
                                        "derived by Jupyternetes and cannot be sealed"]),
        ("image.override", ['spec.sealedVariables["image.override"]',
                            "neither used by the template nor defined by the spawner (rule variables)"]),
    ], ids=["a derived name", "a variable the template does not use"])
    def test_a_sealed_variable_is_refused_where_a_plain_one_would_be(
        self, hub: kube.Kube, admin: kube.Kube, public_key: sealing.PublicKey, drill_template: dict[str, Any],
        variable: str, words: list[str]
    ) -> None:
        name = unique("drill-sealed-name")
        with pytest.raises(kube.Forbidden) as refused:
            hub.create(self._sealed(public_key, name, {variable: "someone-else"}))
        assert refused_by(refused.value.message) == "webhook:instances.validate.jupyternetes.kadense.io"
        for word in words:
            assert word in refused.value.message, refused.value.message
        assert not admin.exists(kube.INSTANCE, name, NAMESPACE)

    @pytest.mark.parametrize(("variable", "value", "words"), [
        ("jupyterhub.user.id", "1\nprivileged: true", "the opened value does not match the pattern ^[0-9]{1,20}$"),
        ("jupyterhub.api_token", "x" * 5000, "the opened value is longer than the most allowed, 4096 characters"),
    ])
    def test_a_sealed_value_is_held_to_the_plain_rules_once_opened(
        self, hub: kube.Kube, admin: kube.Kube, public_key: sealing.PublicKey, operator: processes.Component,
        drill_template: dict[str, Any], cleanup: list[str], variable: str, value: str, words: str
    ) -> None:
        """The webhook sees a sealed value for the first time in the Secret the operator makes: it refuses the
        Secret, the instance says why (without the value), and no pod is made."""
        name = unique("drill-sealed-rules")
        hub.create(self._sealed(public_key, name, {variable: value}))
        cleanup.append(name)
        degraded = _degraded(admin, name, "AdmissionDenied")
        assert f"creating Secret {naming.object_name(name, 'secret')}" in degraded["message"]
        assert f"spec.sealedVariables['{variable}']: {words} (rule variables)" in degraded["message"]
        assert value not in degraded["message"]
        # Nor its length, as a number of its own (object names carry random hex, which may contain the digits).
        assert not re.search(rf"(?<![0-9a-f]){len(value)}(?![0-9a-f])", degraded["message"]), degraded["message"]
        _nothing_made(admin, name)

    def test_a_seal_does_not_open_in_an_instance_of_the_same_name_with_other_plain_values(
        self, hub: kube.Kube, admin: kube.Kube, public_key: sealing.PublicKey, operator: processes.Component,
        drill_template: dict[str, Any], cleanup: list[str]
    ) -> None:
        """The ciphertext the hub sent for one start, replayed into an instance re-created under the same name with
        another user's name in it: the operator refuses to open it."""
        name = unique("drill-replay")
        original = self._sealed(public_key, name, {"jupyterhub.api_token": "t0k-for-jovyan"})
        replayed = instance(name, **{"jupyterhub.user.name": "mallory"})
        replayed["spec"]["sealedVariables"] = original["spec"]["sealedVariables"]
        hub.create(replayed)
        cleanup.append(name)
        degraded = _degraded(admin, name, "SealedVariablesUnreadable")
        assert "does not open with the operator's key" in degraded["message"]
        _nothing_made(admin, name)

    def test_a_seal_does_not_open_for_another_template(
        self, hub: kube.Kube, admin: kube.Kube, public_key: sealing.PublicKey, operator: processes.Component,
        cluster: LocalCluster, drill_template: dict[str, Any], cleanup: list[str]
    ) -> None:
        name = unique("drill-replay-template")
        body = instance(name)
        bound = sealing.binding(namespace=NAMESPACE, instance=name, template_name="some-other-template",
                                template_namespace=cluster.config.template_namespace,
                                variables=body["spec"]["variables"])
        body["spec"]["sealedVariables"] = sealing.seal_instance(public_key, {"jupyterhub.api_token": "t0k"},
                                                                bound_to=bound)
        hub.create(body)
        cleanup.append(name)
        assert "does not open" in _degraded(admin, name, "SealedVariablesUnreadable")["message"]
        _nothing_made(admin, name)

    def test_a_correctly_sealed_instance_is_provisioned(
        self, hub: kube.Kube, admin: kube.Kube, public_key: sealing.PublicKey, operator: processes.Component,
        drill_template: dict[str, Any], cleanup: list[str]
    ) -> None:
        """The control for the drills above: the same instance, sealed for itself, is provisioned."""
        name = unique("drill-sealed-ok")
        hub.create(self._sealed(public_key, name, {"jupyterhub.api_token": "t0k"}))
        cleanup.append(name)
        cluster_mod.wait_for("the pod", lambda: admin.exists(kube.POD, naming.object_name(name, "notebook"),
                                                             NAMESPACE), timeout=60, interval=0.2)
        assert admin.exists(kube.SECRET, naming.object_name(name, "secret"), NAMESPACE)
