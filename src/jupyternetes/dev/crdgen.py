"""Generate the two CRDs in `crds/` from Kubernetes' own OpenAPI schema for `PodSpec` and `PersistentVolumeClaimSpec`.

The template's pod and PVC specs are checked at apply time against the real Kubernetes schema of the pinned version,
so any field a `V1PodSpec` accepts is kept, and a misspelt field or a list where an object belongs is refused with a
message naming the field. The OpenAPI document is read from the pinned `k8s.io/kubernetes` Go module.

Run `python -m jupyternetes.dev.crdgen [OUTPUT_DIR]` to regenerate; a test fails when the committed files differ.

Changes made to the Kubernetes schema so that it is a valid structural CRD schema that allows `{variable}` strings:
references are inlined; descriptions, defaults and enums are dropped (the API server applies defaults and checks
enums when the pod itself is created, after substitution); list-type markers are dropped; string formats are dropped;
`Quantity` and `IntOrString` become `x-kubernetes-int-or-string`; nested `ObjectMeta` keeps only labels and
annotations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import yaml

from jupyternetes import constants, naming
from jupyternetes.dev import toolchain
from jupyternetes.models import (
    ENTRY_NAME_MAX_LENGTH,
    ENTRY_NAME_PATTERN,
    MAX_VARIABLE_NAME_LENGTH,
    MAX_VARIABLE_VALUE_LENGTH,
    MAX_VARIABLES,
)

REPO_ROOT: Final = Path(__file__).resolve().parents[3]
CRD_DIR: Final = REPO_ROOT / "crds"

_DROPPED_KEYS: Final = frozenset(
    {
        "description",
        "default",
        "enum",
        "x-kubernetes-patch-merge-key",
        "x-kubernetes-patch-strategy",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-unions",
        "x-kubernetes-group-version-kind",
        "x-kubernetes-map-type",
    }
)
_INT_OR_STRING: Final = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
_SPECIAL: Final[dict[str, dict[str, Any]]] = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": _INT_OR_STRING,
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": _INT_OR_STRING,
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}
_STRING_MAP: Final = {"type": "object", "additionalProperties": {"type": "string"}}


class _Inliner:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def ref(self, name: str, stack: tuple[str, ...]) -> dict[str, Any]:
        if name in _SPECIAL:
            return json.loads(json.dumps(_SPECIAL[name]))
        if name in stack:
            raise ValueError(f"recursive schema {' -> '.join((*stack, name))} cannot be inlined")
        return self.node(self.schemas[name], (*stack, name))

    def node(self, schema: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        if "$ref" in schema:
            return self.ref(schema["$ref"].rsplit("/", 1)[-1], stack)
        if "allOf" in schema:
            (only,) = schema["allOf"]
            return self.node(only, stack)
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DROPPED_KEYS:
                continue
            if key == "format" and schema.get("type") not in ("integer", "number"):
                continue
            if key == "properties":
                out[key] = {prop: self.node(sub, stack) for prop, sub in sorted(value.items())}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.node(value, stack)
            else:
                out[key] = value
        if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out


def kubernetes_schemas(spec_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Structural schemas of `PodSpec` and `PersistentVolumeClaimSpec`, keyed by those names."""
    spec_dir = spec_dir or toolchain.openapi_spec_dir()
    document = json.loads((spec_dir / "api__v1_openapi.json").read_text())
    inliner = _Inliner(document["components"]["schemas"])
    return {
        "PodSpec": inliner.ref("io.k8s.api.core.v1.PodSpec", ()),
        "PersistentVolumeClaimSpec": inliner.ref("io.k8s.api.core.v1.PersistentVolumeClaimSpec", ()),
    }


def _entry(description: str, extra: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["name", *required],
        "properties": {
            "name": {
                "type": "string",
                "description": "Name of the entry within the template. The generated object is named "
                "<instance>-<name>-<hash>, and `{jupyternetes.pvcs.<name>}` / `{jupyternetes.pods.<name>}` "
                "give that generated name.",
                "pattern": ENTRY_NAME_PATTERN,
                "maxLength": ENTRY_NAME_MAX_LENGTH,
            },
            "labels": {**_STRING_MAP, "description": "Labels for the generated object; placeholders allowed."},
            "annotations": {**_STRING_MAP, "description": "Annotations for the generated object; placeholders allowed."},
            **extra,
        },
    }


def _crd(plural: str, singular: str, kind: str, short: str, schema: dict[str, Any], columns: list[dict[str, Any]],
         status: bool) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": constants.VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "additionalPrinterColumns": columns,
    }
    if status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{constants.GROUP}",
            "labels": {"app.kubernetes.io/part-of": "jupyternetes"},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": singular,
                "kind": kind,
                "listKind": kind + "List",
                "shortNames": [short],
                "categories": [constants.CATEGORY],
            },
            "versions": [version],
        },
    }


def template_crd(k8s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pod_spec = {**k8s["PodSpec"], "description": "A full Kubernetes PodSpec; string fields may hold placeholders."}
    pvc_spec = {
        **k8s["PersistentVolumeClaimSpec"],
        "description": "A full Kubernetes PersistentVolumeClaimSpec; string fields may hold placeholders.",
    }
    list_map = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
    spec = {
        "type": "object",
        "description": "What to create for every instance that refers to this template.",
        "properties": {
            "pods": {
                "type": "array",
                "description": "Pods to create, after the PVCs they mount exist.",
                **list_map,
                "items": _entry("A pod to create for each instance.", {"spec": pod_spec}, ["spec"]),
            },
            "pvcs": {
                "type": "array",
                "description": "PersistentVolumeClaims to create first.",
                **list_map,
                "items": _entry("A PersistentVolumeClaim to create for each instance.", {"spec": pvc_spec}, ["spec"]),
            },
            "otherResources": {
                "type": "array",
                "description": "Other namespaced objects to create; the operator creates only allowlisted kinds.",
                **list_map,
                "items": _entry(
                    "Any other namespaced object.",
                    {
                        "apiVersion": {"type": "string", "minLength": 1, "description": "For example v1."},
                        "kind": {"type": "string", "minLength": 1, "description": "For example Service."},
                        "body": {
                            "type": "object",
                            "description": "Every top-level field of the object except apiVersion, kind and "
                            "metadata, for example {spec: ...} or {data: ...}; placeholders allowed in values.",
                            "x-kubernetes-preserve-unknown-fields": True,
                        },
                    },
                    ["apiVersion", "kind"],
                ),
            },
        },
    }
    schema = {
        "type": "object",
        "description": "A JupyterNotebookTemplate: the pods, PVCs and other objects to create for each "
        "JupyterNotebookInstance that refers to it. Strings may contain {variable} placeholders.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
        },
        "required": ["spec"],
    }
    columns = [
        {"name": "Pods", "type": "string", "jsonPath": ".spec.pods[*].name"},
        {"name": "Images", "type": "string", "jsonPath": ".spec.pods[*].spec.containers[*].image"},
        {"name": "Generation", "type": "integer", "jsonPath": ".metadata.generation", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd(constants.TEMPLATE_PLURAL, constants.TEMPLATE_SINGULAR, constants.TEMPLATE_KIND,
                constants.TEMPLATE_SHORT_NAME, schema, columns, status=False)


def _resource_state() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "resourceName": {"type": "string", "description": "Name of the generated object."},
            "kind": {"type": "string"},
            "apiVersion": {"type": "string"},
            "state": {"type": "string", "description": "Pending, Waiting, Provisioned, Running, Succeeded, Failed, "
                      "Denied, Error or Deleted."},
            "errorMessage": {"type": "string", "description": "Why the object is not as it should be."},
            "reason": {"type": "string", "description": "Pods: why, in one word, as the kubelet or scheduler says it "
                       "(ImagePullBackOff, CrashLoopBackOff, OOMKilled, Unschedulable, DeadlineExceeded, ...)."},
            "phase": {"type": "string", "description": "The object's own phase (pods and PVCs)."},
            "podIP": {"type": "string", "description": "Pods only: the pod's IP address."},
            "port": {"type": "integer", "format": "int32",
                     "description": "Pods only: the container port named http, else the first one."},
        },
    }


def _variables(description: str) -> dict[str, Any]:
    """A map of variables: names as placeholders write them, a bounded number, values of bounded length."""
    return {
        **_STRING_MAP,
        "description": description,
        "maxProperties": MAX_VARIABLES,
        "additionalProperties": {"type": "string", "maxLength": MAX_VARIABLE_VALUE_LENGTH},
        "x-kubernetes-validations": [{
            # The same pattern as VARIABLE_NAME_PATTERN, written without a backslash for CEL.
            "rule": f"self.all(k, size(k) <= {MAX_VARIABLE_NAME_LENGTH} && k.matches('^[A-Za-z0-9_][-A-Za-z0-9_.]*$'))",
            "message": f"variable names are letters, digits, '_', '.' and '-', not starting with '.' or '-', and "
                       f"at most {MAX_VARIABLE_NAME_LENGTH} characters",
        }],
    }


def instance_crd() -> dict[str, Any]:
    state_map = {"type": "object", "additionalProperties": _resource_state()}
    status = {
        "type": "object",
        "description": "What the operator has made of the instance.",
        "properties": {
            "pods": {**state_map, "description": "State of each pod, keyed by template entry name."},
            "pvcs": {**state_map, "description": "State of each PVC, keyed by template entry name."},
            "otherResources": {**state_map, "description": "State of each other object, keyed by entry name."},
            "secret": {**_resource_state(), "description": "The instance's own Secret (opened sealed variables and "
                       "the hub's environment), when it has one."},
            "podsProvisioned": {"type": "string",
                                "description": "Pending, Provisioned, Running, Succeeded or Failed."},
            "pvcsProvisioned": {"type": "string", "description": "Pending, Provisioned or Failed."},
            "otherResourcesProvisioned": {**_STRING_MAP, "description": "Summary state of other objects by kind."},
            "template": {
                "type": "object",
                "description": "The template version this instance was rendered from, recorded when it was first "
                               "rendered and never changed: a running server keeps this version; the next start "
                               "uses the template as it is then.",
                "properties": {
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "uid": {"type": "string"},
                    "generation": {"type": "integer", "format": "int64"},
                },
            },
            "conditions": {
                "type": "array",
                "description": "Ready, Progressing and Degraded.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                        "reason": {"type": "string"},
                        "message": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                        "observedGeneration": {"type": "integer", "format": "int64"},
                    },
                },
            },
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The spec generation this status describes."},
        },
    }
    spec = {
        "type": "object",
        "required": ["template"],
        "properties": {
            "template": {
                "type": "object",
                "description": "The template to render.",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": naming.DNS1123_SUBDOMAIN_MAX,
                             "pattern": naming.DNS1123_SUBDOMAIN_PATTERN,
                             "description": "Name of the template (a Kubernetes object name)."},
                    "namespace": {"type": "string", "minLength": 1, "maxLength": naming.DNS1123_LABEL_MAX,
                                  "pattern": naming.DNS1123_LABEL_PATTERN,
                                  "description": "Namespace of the template; defaults to the instance's namespace."},
                },
            },
            "variables": _variables("Values for the template's {variable} placeholders."),
            "sealedVariables": _variables("Secret values (such as the hub's API token) sealed to the operator's key; "
                                          "the operator opens them into the instance's Secret."),
        },
    }
    schema = {
        "type": "object",
        "description": "A JupyterNotebookInstance: one notebook server, rendered from a template with variables.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
    }
    columns = [
        {"name": "Template", "type": "string", "jsonPath": ".spec.template.name"},
        {"name": "Template-Generation", "type": "integer", "jsonPath": ".status.template.generation",
         "priority": 1},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Reason", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
         "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd(constants.INSTANCE_PLURAL, constants.INSTANCE_SINGULAR, constants.INSTANCE_KIND,
                constants.INSTANCE_SHORT_NAME, schema, columns, status=True)


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


HEADER: Final = (
    "# Generated by `python -m jupyternetes.dev.crdgen` from the Kubernetes {version} OpenAPI schema. Do not edit.\n"
)


def render_files(k8s: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """File name -> YAML text of both CRDs."""
    k8s = k8s or kubernetes_schemas()
    header = HEADER.format(version=toolchain.KUBERNETES_VERSION)
    out = {}
    for crd in (template_crd(k8s), instance_crd()):
        name = f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml"
        out[name] = header + yaml.dump(crd, Dumper=_NoAliasDumper, sort_keys=False, width=120)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else CRD_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_files().items():
        (target / name).write_text(text)
        print(f"wrote {target / name} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
