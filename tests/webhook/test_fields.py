"""Every PodSpec and PersistentVolumeClaimSpec field of the pinned Kubernetes version is classified, from Kubernetes'
own OpenAPI document: a new field fails this test until someone decides how it is judged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jupyternetes.dev import toolchain
from jupyternetes.webhook import fields

_SCALARS = {"io.k8s.apimachinery.pkg.api.resource.Quantity", "io.k8s.apimachinery.pkg.util.intstr.IntOrString"}


def _schemas() -> dict[str, Any]:
    document = json.loads((toolchain.openapi_spec_dir() / "api__v1_openapi.json").read_text())
    return dict(document["components"]["schemas"])


def openapi_fields(root: str, prefix: str = "spec") -> Iterator[tuple[str, bool]]:
    """(pattern, is_leaf) for every field under the schema `root`, as the tables write them."""
    schemas = _schemas()

    def walk(schema: dict[str, Any], pattern: str, stack: tuple[str, ...]) -> Iterator[tuple[str, bool]]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in _SCALARS:
                yield pattern, True
                return
            assert name not in stack, f"recursive schema at {pattern}"
            yield from walk(schemas[name], pattern, (*stack, name))
            return
        if "allOf" in schema:
            yield from walk(schema["allOf"][0], pattern, stack)
            return
        if schema.get("type") == "object" and "properties" in schema:
            yield pattern, False
            for key, sub in schema["properties"].items():
                yield from walk(sub, f"{pattern}.{key}", stack)
        elif schema.get("type") == "object" and "additionalProperties" in schema:
            yield pattern, False
            yield from walk(schema["additionalProperties"], f"{pattern}{{*}}", stack)
        elif schema.get("type") == "array":
            yield pattern, False
            yield from walk(schema["items"], f"{pattern}[*]", stack)
        else:
            yield pattern, True

    yield from walk({"$ref": f"#/components/schemas/{root}"}, prefix, ())


TABLES = [("io.k8s.api.core.v1.PodSpec", fields.POD_SPEC), ("io.k8s.api.core.v1.PersistentVolumeClaimSpec",
                                                             fields.PVC_SPEC)]


@pytest.mark.parametrize(("root", "table"), TABLES, ids=["PodSpec", "PersistentVolumeClaimSpec"])
def test_every_field_of_the_pinned_kubernetes_is_classified(root: str, table: fields.Table) -> None:
    leaves = [pattern for pattern, leaf in openapi_fields(root) if leaf]
    assert len(leaves) > 10, "the OpenAPI walk found almost nothing; the check below would prove nothing"
    unclassified = [pattern for pattern in leaves if table.judged(pattern) is None]
    assert not unclassified, (
        f"{len(unclassified)} fields of Kubernetes {toolchain.KUBERNETES_VERSION} are not classified in "
        f"jupyternetes/webhook/fields.py; decide how each is judged: {unclassified}")


@pytest.mark.parametrize(("root", "table"), TABLES, ids=["PodSpec", "PersistentVolumeClaimSpec"])
def test_every_entry_names_a_field_that_exists(root: str, table: fields.Table) -> None:
    known = {pattern for pattern, _ in openapi_fields(root)}
    stale = [key for key in table.entries if key.removesuffix(".**") not in known]
    assert not stale, f"entries for fields that Kubernetes {toolchain.KUBERNETES_VERSION} does not have: {stale}"


def test_a_subtree_entry_is_never_under_a_field_with_its_own_entries() -> None:
    """`x.**` means every field below x is judged alike; an exact entry below it would be dead."""
    for table in (fields.POD_SPEC, fields.PVC_SPEC):
        for root in table.subtrees:
            inside = [key for key in table.entries if key != f"{root}.**" and key.startswith(root) and
                      key[len(root)] in ".[{"]
            assert not inside, (root, inside)


def test_walking_a_spec_names_every_field_set_and_how_it_is_judged() -> None:
    spec = {"containers": [{"name": "a", "image": "x", "securityContext": {"privileged": True, "newThing": 1},
                            "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}],
            "nodeSelector": {"disk": "ssd"}, "volumes": [{"name": "v", "hostPath": {"path": "/"}}],
            "futureField": {"x": 1}, "affinity": {"nodeAffinity": {}}}
    found = {f.path: f.judged for f in fields.POD_SPEC.walk(spec)}
    assert found == {
        "spec.containers[0].name": (fields.INERT, "a name"),
        "spec.containers[0].image": (fields.POLICY, "images"),
        "spec.containers[0].securityContext.privileged": (fields.FLOOR, "privileged"),
        "spec.containers[0].securityContext.newThing": None,
        "spec.containers[0].env[0].name": (fields.INERT, "an environment variable of the container"),
        "spec.containers[0].env[0].valueFrom.secretKeyRef": (fields.POLICY, "credentials"),
        "spec.nodeSelector['disk']": (fields.INERT, "scheduling among nodes the pod may use anyway"),
        "spec.volumes[0].name": (fields.INERT, "a name"),
        "spec.volumes[0].hostPath": (fields.FLOOR, "host-path-volumes"),
        "spec.futureField": None,
        "spec.affinity": (fields.INERT, "scheduling preferences among nodes the pod may use anyway"),
    }


def test_a_scalar_where_an_object_belongs_is_unknown_not_skipped() -> None:
    found = {f.path: f.judged for f in fields.POD_SPEC.walk({"securityContext": "privileged", "containers": "x"})}
    assert found == {"spec.securityContext": None, "spec.containers": None}
