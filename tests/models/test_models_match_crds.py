"""The Python models and the CRDs in crds/ describe the same objects.

Three checks: the committed CRDs are exactly what the generator makes from Kubernetes' own OpenAPI schema; every
field of every model is a property of the CRD schema with the same type and required-ness, and the other way round;
and a set of good and bad documents is accepted or refused alike by the models and by the CRD schemas (validated
strictly, as `kubectl apply` does).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pydantic
import pytest
import yaml

from jupyternetes import models
from jupyternetes.dev import crdgen
from tests import seeds

CRDS = {
    path.name: yaml.safe_load(path.read_text()) for path in sorted(crdgen.CRD_DIR.glob("*.yaml"))
}
TEMPLATE_CRD = CRDS["kadense.io_jupyternotebooktemplates.yaml"]
INSTANCE_CRD = CRDS["kadense.io_jupyternotebookinstances.yaml"]


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_committed_crds_are_exactly_what_the_generator_makes() -> None:
    generated = crdgen.render_files()
    for name, text in generated.items():
        committed = (crdgen.CRD_DIR / name).read_text()
        assert committed == text, f"crds/{name} is stale; run `python -m jupyternetes.dev.crdgen`"
    assert set(generated) == set(CRDS)


# Structural agreement ------------------------------------------------------------------------------------------------

_JSON_TYPES = {"string": "string", "integer": "integer", "object": "object", "array": "array", "boolean": "boolean"}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return _resolve(options[0], defs)
    return node


def _compare(model: dict[str, Any], crd: dict[str, Any], defs: dict[str, Any], path: str,
             opaque: set[str]) -> None:
    model = _resolve(model, defs)
    if path in opaque:
        return
    model_type = model.get("type") or ("string" if "enum" in model or "const" in model else None)
    assert crd.get("type") == _JSON_TYPES.get(str(model_type)), f"{path}: model {model_type}, CRD {crd.get('type')}"
    if model_type == "object" and "properties" in model:
        assert set(model["properties"]) == set(crd.get("properties", {})), f"{path}: properties differ"
        assert set(model.get("required", [])) == set(crd.get("required", [])), f"{path}: required fields differ"
        for name, sub in model["properties"].items():
            _compare(sub, crd["properties"][name], defs, f"{path}.{name}", opaque)
    elif model_type == "object":
        assert ("additionalProperties" in crd) == isinstance(model.get("additionalProperties"), dict) or (
            crd.get("x-kubernetes-preserve-unknown-fields")
        ), path
        if isinstance(model.get("additionalProperties"), dict) and model["additionalProperties"]:
            _compare(model["additionalProperties"], crd["additionalProperties"], defs, f"{path}.*", opaque)
    elif model_type == "array":
        _compare(model["items"], crd["items"], defs, f"{path}[]", opaque)
    if "pattern" in model:
        assert crd.get("pattern") == model["pattern"], f"{path}: pattern differs"
    if "maxLength" in model:
        assert crd.get("maxLength") == model["maxLength"], f"{path}: maxLength differs"


@pytest.mark.parametrize(
    ("model", "crd", "opaque"),
    [
        (models.Template, TEMPLATE_CRD, {"$.metadata", "$.spec.pods[].spec", "$.spec.pvcs[].spec"}),
        (models.Instance, INSTANCE_CRD, {"$.metadata"}),
    ],
    ids=["template", "instance"],
)
def test_every_model_field_is_a_crd_property_of_the_same_type_and_back(
    model: type[pydantic.BaseModel], crd: dict[str, Any], opaque: set[str]
) -> None:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    crd_schema = _schema(crd)
    # Only apiVersion/kind/metadata/spec/status are compared at the top; the rest are Kubernetes' own.
    for name in ("spec", "status"):
        if name in crd_schema["properties"]:
            _compare(schema["properties"][name], crd_schema["properties"][name], defs, f"$.{name}", opaque)


def test_pod_and_pvc_specs_in_the_template_crd_are_kubernetes_own_schemas() -> None:
    items = _schema(TEMPLATE_CRD)["properties"]["spec"]["properties"]
    pod_spec = items["pods"]["items"]["properties"]["spec"]
    pvc_spec = items["pvcs"]["items"]["properties"]["spec"]
    assert {"containers", "initContainers", "volumes", "securityContext", "affinity", "tolerations"} <= set(
        pod_spec["properties"]
    )
    assert pod_spec["required"] == ["containers"]
    assert {"accessModes", "resources", "storageClassName"} <= set(pvc_spec["properties"])


# Behavioural agreement -----------------------------------------------------------------------------------------------

def _strict(schema: Any) -> Any:
    """The schema as the API server applies it with fieldValidation=Strict: unknown fields are errors."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
        if out.get("x-kubernetes-int-or-string"):
            out.pop("anyOf", None)
            out["type"] = ["integer", "string"]
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _crd_accepts(crd: dict[str, Any], doc: dict[str, Any]) -> bool:
    schema = _strict(_schema(crd))
    doc = {k: v for k, v in doc.items() if k != "metadata"}
    try:
        jsonschema.validate(doc, schema, cls=jsonschema.Draft7Validator)
        return True
    except jsonschema.ValidationError:
        return False


def _model_accepts(parse: Any, doc: dict[str, Any]) -> bool:
    try:
        parse(doc)
        return True
    except models.InvalidObjectError:
        return False


def _edit(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()

TEMPLATE_CASES = {
    "seed": ([], None, True),
    "pods is an object": (["spec", "pods"], {"name": "x"}, False),
    "entry without a name": (["spec", "pvcs", 0, "name"], _DELETE, False),
    "entry name with capitals": (["spec", "pods", 0, "name"], "Notebook", False),
    "entry name too long": (["spec", "pods", 0, "name"], "a" * 41, False),
    "label value a number": (["spec", "pods", 0, "labels", "x"], 5, False),
    "misspelt entry field": (["spec", "pods", 0, "lables"], {}, False),
    "pod entry without a spec": (["spec", "pods", 0, "spec"], _DELETE, False),
    "other resource without kind": (["spec", "otherResources"], [{"name": "a", "apiVersion": "v1"}], False),
    "other resource with a body": (["spec", "otherResources"],
                                   [{"name": "a", "apiVersion": "v1", "kind": "ConfigMap", "body": {"data": {}}}],
                                   True),
}

INSTANCE_CASES = {
    "seed": ([], None, True),
    "no template": (["spec", "template"], _DELETE, False),
    "template without a name": (["spec", "template", "name"], _DELETE, False),
    "empty template name": (["spec", "template", "name"], "", False),
    "variable that is a number": (["spec", "variables", "n"], 1, False),
    "misspelt spec field": (["spec", "varaibles"], {}, False),
    "status with a misspelt field": (["status", "podProvisioned"], "x", False),
    "condition without a status": (["status", "conditions"], [{"type": "Ready"}], False),
    "condition with a bad status": (["status", "conditions"], [{"type": "Ready", "status": "Yes"}], False),
    "full status": (["status"], {
        "pods": {"notebook": {"resourceName": "p", "state": "Running", "podIP": "10.0.0.1", "port": 8888}},
        "pvcs": {"workspace": {"resourceName": "c", "state": "Provisioned"}},
        "otherResources": {}, "podsProvisioned": "Running", "pvcsProvisioned": "Provisioned",
        "otherResourcesProvisioned": {"Service": "Provisioned"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "PodRunning", "message": "ok",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}],
        "observedGeneration": 1}, True),
}


@pytest.mark.parametrize("case", list(TEMPLATE_CASES))
def test_templates_are_accepted_or_refused_alike(case: str) -> None:
    path, value, valid = TEMPLATE_CASES[case]
    doc = _edit(seeds.seed_template(), path, value) if path else seeds.seed_template()
    assert _model_accepts(models.parse_template, doc) is valid
    assert _crd_accepts(TEMPLATE_CRD, doc) is valid


@pytest.mark.parametrize("case", list(INSTANCE_CASES))
def test_instances_are_accepted_or_refused_alike(case: str) -> None:
    path, value, valid = INSTANCE_CASES[case]
    doc = _edit(seeds.seed_instance(), path, value) if path else seeds.seed_instance()
    assert _model_accepts(models.parse_instance, doc) is valid
    assert _crd_accepts(INSTANCE_CRD, doc) is valid
