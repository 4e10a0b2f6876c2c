"""Offline, strict schema validation of Kubernetes manifests (what kubeconform -strict does), from the OpenAPI v3
documents in the pinned `k8s.io/kubernetes` Go module and from CRD files: no cluster, no network."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

from jupyternetes.dev import toolchain


def _strict(node: Any) -> Any:
    """Every object schema that lists its properties refuses others (a misspelt field is an error)."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node and \
                not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def _document_file(api_version: str) -> str:
    if "/" not in api_version:
        return f"api__{api_version}_openapi.json"
    group, version = api_version.split("/")
    return f"apis__{group}__{version}_openapi.json"


@functools.cache
def _document(name: str) -> dict[str, Any]:
    return _strict(json.loads((toolchain.openapi_spec_dir() / name).read_text()))


class Validator:
    def __init__(self, crd_files: Iterable[Path] = ()) -> None:
        self.crds: dict[tuple[str, str], dict[str, Any]] = {}
        for path in crd_files:
            for crd in yaml.safe_load_all(path.read_text()):
                self.add_crd(crd)

    def add_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            self.crds[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema

    def errors(self, manifest: dict[str, Any]) -> list[str]:
        """Every schema error of one manifest, as `Kind/name: path: message`."""
        api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
        label = f"{kind}/{(manifest.get('metadata') or {}).get('name')}"
        if (api_version, kind) in self.crds:
            validator = jsonschema.Draft202012Validator(self.crds[(api_version, kind)])
        else:
            try:
                document = _document(_document_file(api_version))
            except FileNotFoundError:
                return [f"{label}: no schema for apiVersion {api_version}"]
            group, _, version = api_version.rpartition("/")
            name = next((n for n, s in document["components"]["schemas"].items()
                         if {"group": group, "version": version, "kind": kind}
                         in s.get("x-kubernetes-group-version-kind", [])), None)
            if name is None:
                return [f"{label}: no schema for {api_version} {kind}"]
            resource = referencing.Resource.from_contents(document, referencing.jsonschema.DRAFT202012)
            registry = referencing.Registry().with_resource("urn:k8s", resource)
            validator = jsonschema.Draft202012Validator(
                {"$ref": f"urn:k8s#/components/schemas/{name}"}, registry=registry)
        return [f"{label}: {'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
                for error in validator.iter_errors(manifest)]
