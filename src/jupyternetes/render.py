"""Render a `JupyterNotebookTemplate` for one `JupyterNotebookInstance` into Kubernetes manifests.

This is a pure function: parsed objects in, parsed objects out, no cluster. Substitution happens on the strings
inside the parsed template, never on YAML or JSON text, so a variable's value can only ever become (part of) the
string it was substituted into. It cannot add a field, change a type, or close a quote.

Placeholder rules:

- `{name}` is replaced by the value of variable `name` in every string value, and in the keys of `labels` and
  `annotations` maps. Keys anywhere else are field names and may not contain braces.
- `{{` and `}}` are literal braces. Any other lone brace is an error.
- Values are inserted as they are and never expanded again.
- A placeholder whose variable is not defined is an error naming the variable and the field; nothing is left in place.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jupyternetes import constants, naming
from jupyternetes.models import Instance, Template

_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
#: Maps whose keys are substituted too (label and annotation keys may carry a user's id, for example).
SUBSTITUTED_KEY_MAPS: Final = frozenset({"labels", "annotations"})
_FORBIDDEN_BODY_KEYS: Final = frozenset({"apiVersion", "kind", "metadata"})


class RenderError(ValueError):
    """The template cannot be rendered for this instance. `problems` lists each one with its field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class UnknownVariableError(RenderError):
    """A placeholder refers to a variable that neither the instance nor Jupyternetes defines."""

    def __init__(self, problems: list[str], variables: list[str]) -> None:
        self.variables = variables
        super().__init__(problems)


@dataclass(frozen=True)
class SecretRef:
    """Where the value of a sealed variable lives once the operator has opened it: a key of a Secret."""

    secret_name: str
    key: str


@dataclass(frozen=True)
class RenderedObject:
    """One manifest, with the template entry it came from."""

    entry_kind: str
    entry_name: str
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def api_version(self) -> str:
        return str(self.manifest["apiVersion"])


@dataclass(frozen=True)
class Manifests:
    """Everything an instance renders to, in the order it is created: PVCs, then pods, then other resources."""

    pvcs: list[RenderedObject] = field(default_factory=list)
    pods: list[RenderedObject] = field(default_factory=list)
    others: list[RenderedObject] = field(default_factory=list)

    def all(self) -> list[RenderedObject]:
        return [*self.pvcs, *self.pods, *self.others]


# A parsed string: literal text pieces and variable names, alternating as they appear.
_Literal = str


@dataclass(frozen=True)
class _Var:
    name: str


_Segments = tuple[_Literal | _Var, ...]


@functools.lru_cache(maxsize=8192)
def parse_placeholders(text: str) -> _Segments | str:
    """Split `text` into literal pieces and variables; returns an error message (a `str`) when it is malformed.

    Cached, because the same template strings are rendered for every instance and checked on every admission.
    """
    if "{" not in text and "}" not in text:
        return (text,)
    segments: list[_Literal | _Var] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            name = text[i + 1 : end] if end != -1 else ""
            if end == -1 or not _VARIABLE_NAME.fullmatch(name):
                return (
                    f"unmatched '{{' at position {i} (write '{{{{' for a literal brace, "
                    "or '{variable.name}' for a variable)"
                )
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(_Var(name))
            i = end + 1
        elif char == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            return f"unmatched '}}' at position {i} (write '}}}}' for a literal brace)"
        else:
            literal.append(char)
            i += 1
    if literal:
        segments.append("".join(literal))
    return tuple(segments)


def variables_used(value: Any) -> set[str]:
    """Every variable name referenced by a placeholder anywhere in `value` (malformed strings are skipped)."""
    found: set[str] = set()

    def visit(node: Any, parent_key: str | None) -> None:
        if isinstance(node, str):
            parsed = parse_placeholders(node)
            if not isinstance(parsed, str):
                found.update(s.name for s in parsed if isinstance(s, _Var))
        elif isinstance(node, dict):
            for key, child in node.items():
                if parent_key in SUBSTITUTED_KEY_MAPS and isinstance(key, str):
                    visit(key, None)
                visit(child, key)
        elif isinstance(node, list):
            for child in node:
                visit(child, parent_key)

    visit(value, None)
    return found


class _Substituter:
    """One rendering pass: substitutes strings and collects every problem with its field path."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = variables
        self.problems: list[str] = []
        self.unknown: list[str] = []

    def string(self, text: str, path: str) -> str:
        parsed = parse_placeholders(text)
        if isinstance(parsed, str):
            self.problems.append(f"{path}: {parsed}")
            return text
        if len(parsed) == 1 and not isinstance(parsed[0], _Var):
            return parsed[0]
        out: list[str] = []
        for segment in parsed:
            if isinstance(segment, _Var):
                value = self.variables.get(segment.name)
                if value is None:
                    self.problems.append(
                        f"{path}: unknown variable {segment.name!r}; define it in the instance's spec.variables "
                        f"or remove the placeholder (write '{{{{' and '}}}}' for literal braces)"
                    )
                    if segment.name not in self.unknown:
                        self.unknown.append(segment.name)
                    continue
                out.append(value)
            else:
                out.append(segment)
        return "".join(out)

    def value(self, node: Any, path: str, parent_key: str | None = None) -> Any:
        if isinstance(node, str):
            return self.string(node, path)
        if isinstance(node, dict):
            substitute_keys = parent_key in SUBSTITUTED_KEY_MAPS
            result: dict[str, Any] = {}
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                new_key = key
                if isinstance(key, str):
                    if substitute_keys:
                        new_key = self.string(key, f"{path}[{key!r}] (key)")
                    elif "{" in key or "}" in key:
                        self.problems.append(
                            f"{child_path}: braces in a field name; placeholders are only substituted in values "
                            "and in the keys of labels and annotations"
                        )
                if new_key in result:
                    self.problems.append(
                        f"{path}: keys {key!r} and another key both become {new_key!r} after substitution"
                    )
                result[new_key] = self.value(child, child_path, key if isinstance(key, str) else None)
            return result
        if isinstance(node, list):
            return [self.value(child, f"{path}[{index}]", parent_key) for index, child in enumerate(node)]
        # Numbers, booleans and null are kept as they are (immutable): a variable can never change a type.
        return node


def derived_variables(template: Template, instance: Instance) -> dict[str, str]:
    """The variables Jupyternetes defines itself for this instance and template."""
    instance_name = instance.metadata.name
    derived = {
        constants.VAR_INSTANCE_NAME: instance_name,
        constants.VAR_INSTANCE_NAMESPACE: instance.metadata.namespace or "",
        constants.VAR_TEMPLATE_NAME: template.metadata.name,
        constants.VAR_TEMPLATE_NAMESPACE: template.metadata.namespace or "",
        constants.VAR_SECRET: naming.object_name(instance_name, constants.SECRET_ENTRY),
    }
    for pvc in template.spec.pvcs:
        derived[constants.VAR_PVC_PREFIX + pvc.name] = naming.object_name(instance_name, pvc.name)
    for pod in template.spec.pods:
        derived[constants.VAR_POD_PREFIX + pod.name] = naming.object_name(instance_name, pod.name)
    for other in template.spec.other_resources:
        derived[constants.VAR_OTHER_PREFIX + other.name] = naming.object_name(instance_name, other.name)
    return derived


def resolve_variables(template: Template, instance: Instance, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The instance's variables merged with the derived ones, or `RenderError` if the instance contradicts them."""
    derived = derived_variables(template, instance)
    problems: list[str] = []
    merged: dict[str, str] = dict(instance.spec.variables)
    if extra:
        merged.update(extra)
    for name, value in merged.items():
        if name.startswith(constants.DERIVED_VARIABLE_PREFIX):
            if name not in derived:
                problems.append(
                    f"spec.variables[{name!r}]: names starting with {constants.DERIVED_VARIABLE_PREFIX!r} are "
                    "reserved for variables that Jupyternetes derives; rename the variable"
                )
            elif value != derived[name]:
                problems.append(
                    f"spec.variables[{name!r}]: is derived by Jupyternetes as {derived[name]!r}, but the instance "
                    f"sets {value!r}; remove it or give the derived value"
                )
    for name in instance.spec.sealed_variables:
        if name.startswith(constants.DERIVED_VARIABLE_PREFIX):
            problems.append(
                f"spec.sealedVariables[{name!r}]: names starting with {constants.DERIVED_VARIABLE_PREFIX!r} are "
                "derived by Jupyternetes and cannot be sealed; remove it"
            )
    if problems:
        raise RenderError(problems)
    merged.update(derived)
    return merged


def _metadata(
    entry_kind: str,
    entry_name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    template: Template,
    instance: Instance,
    path: str,
    problems: list[str],
) -> dict[str, Any]:
    problems.extend(_reserved_problems(labels, annotations, path))
    return {
        "name": naming.object_name(instance.metadata.name, entry_name),
        "namespace": instance.metadata.namespace,
        "labels": {**labels, **ownership_labels(template, instance, entry_kind, entry_name)},
        "annotations": {**annotations, constants.ANNOTATION_INSTANCE_NAME: instance.metadata.name},
    }


def _reserved_problems(labels: Mapping[str, str], annotations: Mapping[str, str], path: str) -> list[str]:
    problems = [f"{path}.labels[{key!r}]: this label is set by Jupyternetes; remove it from the template"
                for key in labels if key in constants.RESERVED_LABELS]
    problems += [f"{path}.annotations[{key!r}]: this annotation is set by Jupyternetes; remove it from the template"
                 for key in annotations if key in constants.RESERVED_ANNOTATIONS]
    return problems


def ownership_labels(template: Template, instance: Instance, entry_kind: str, entry_name: str) -> dict[str, str]:
    """The labels that tie a rendered object to its instance, template and template entry."""
    return {
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
        constants.LABEL_INSTANCE: naming.label_value(instance.metadata.name),
        constants.LABEL_TEMPLATE: naming.label_value(template.metadata.name),
        constants.LABEL_TEMPLATE_NAMESPACE: naming.label_value(template.metadata.namespace or ""),
        constants.LABEL_ENTRY: entry_name,
        constants.LABEL_ENTRY_KIND: entry_kind,
    }


def _apply_secret_refs(pod_spec: dict[str, Any], secret_refs: Mapping[str, SecretRef], path: str) -> list[str]:
    """Turn `value: '{sealed.var}'` env entries into `valueFrom.secretKeyRef`; any other use is a problem."""
    problems: list[str] = []
    for list_name in ("initContainers", "containers", "ephemeralContainers"):
        for c_index, container in enumerate(pod_spec.get(list_name) or []):
            if not isinstance(container, dict):
                continue
            for e_index, env in enumerate(container.get("env") or []):
                if not isinstance(env, dict) or not isinstance(env.get("value"), str):
                    continue
                parsed = parse_placeholders(env["value"])
                if isinstance(parsed, str) or len(parsed) != 1 or not isinstance(parsed[0], _Var):
                    continue
                ref = secret_refs.get(parsed[0].name)
                if ref is not None:
                    del env["value"]
                    env["valueFrom"] = {"secretKeyRef": {"name": ref.secret_name, "key": ref.key}}
    leftover = variables_used(pod_spec) & set(secret_refs)
    for name in sorted(leftover):
        problems.append(
            f"{path}: sealed variable {name!r} is used outside a container env value; a sealed variable can only "
            "be the whole value of an env entry (value: '{" + name + "}') so that it is read from a Secret"
        )
    return problems


def secret_key(variable: str) -> str:
    """The key of a variable in the instance's Secret: the variable's name, or NAME for jupyterhub.env.NAME."""
    return variable.removeprefix(constants.ENV_VARIABLE_PREFIX)


def secret_refs(instance: Instance) -> dict[str, SecretRef]:
    """Where each sealed variable of `instance` can be read from once the operator has opened it."""
    name = naming.object_name(instance.metadata.name, constants.SECRET_ENTRY)
    return {variable: SecretRef(name, secret_key(variable)) for variable in instance.spec.sealed_variables}


def instance_secret(instance: Instance, opened: Mapping[str, str]) -> dict[str, Any] | None:
    """The instance's own Secret: the opened sealed variables, and the hub's environment (`jupyterhub.env.*`) under
    environment-variable names so that a template can take it all with `envFrom`. None when there is nothing to keep.
    """
    data = {secret_key(k): v for k, v in instance.spec.variables.items()
            if k.startswith(constants.ENV_VARIABLE_PREFIX)}
    data.update({secret_key(k): v for k, v in opened.items()})
    if not data:
        return None
    name = instance.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": naming.object_name(name, constants.SECRET_ENTRY),
            "namespace": instance.metadata.namespace,
            "labels": {constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
                       constants.LABEL_INSTANCE: naming.label_value(name),
                       constants.LABEL_ENTRY: constants.SECRET_ENTRY,
                       constants.LABEL_ENTRY_KIND: constants.ENTRY_SECRET},
            "annotations": {constants.ANNOTATION_INSTANCE_NAME: name},
        },
        "stringData": dict(sorted(data.items())),
    }


def render(
    template: Template,
    instance: Instance,
    *,
    extra_variables: Mapping[str, str] | None = None,
) -> Manifests:
    """Render `template` for `instance`.

    The instance's sealed variables are never in the rendering: an env entry whose value is exactly such a placeholder
    becomes a `secretKeyRef` to the instance's Secret, and any other use is an error. `extra_variables` are merged
    over the instance's own (the operator uses them for values it computes).

    Raises `RenderError` (or its subclass `UnknownVariableError`) listing every problem with its field path.
    """
    variables = resolve_variables(template, instance, extra_variables)
    refs = secret_refs(instance)
    substituter = _Substituter(variables)
    problems = substituter.problems
    manifests = Manifests()

    for index, pvc in enumerate(template.spec.pvcs):
        path = f"spec.pvcs[{index}]"
        labels = substituter.value(pvc.labels, f"{path}.labels", "labels")
        annotations = substituter.value(pvc.annotations, f"{path}.annotations", "annotations")
        spec = substituter.value(pvc.spec, f"{path}.spec")
        metadata = _metadata(constants.ENTRY_PVC, pvc.name, labels, annotations, template, instance, path, problems)
        manifest = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}
        manifests.pvcs.append(RenderedObject(constants.ENTRY_PVC, pvc.name, manifest))

    for index, pod in enumerate(template.spec.pods):
        path = f"spec.pods[{index}]"
        spec_source = pod.spec
        if refs:
            spec_source = copy.deepcopy(pod.spec)
            problems.extend(_apply_secret_refs(spec_source, refs, f"{path}.spec"))
        labels = substituter.value(pod.labels, f"{path}.labels", "labels")
        annotations = substituter.value(pod.annotations, f"{path}.annotations", "annotations")
        spec = substituter.value(spec_source, f"{path}.spec")
        metadata = _metadata(constants.ENTRY_POD, pod.name, labels, annotations, template, instance, path, problems)
        manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
        manifests.pods.append(RenderedObject(constants.ENTRY_POD, pod.name, manifest))

    for index, other in enumerate(template.spec.other_resources):
        path = f"spec.otherResources[{index}]"
        for key in _FORBIDDEN_BODY_KEYS & set(other.body):
            problems.append(
                f"{path}.body.{key}: set apiVersion and kind on the entry itself, and labels and annotations "
                "beside them; the name is generated"
            )
        labels = substituter.value(other.labels, f"{path}.labels", "labels")
        annotations = substituter.value(other.annotations, f"{path}.annotations", "annotations")
        body = substituter.value({k: v for k, v in other.body.items() if k not in _FORBIDDEN_BODY_KEYS},
                                 f"{path}.body")
        metadata = _metadata(constants.ENTRY_OTHER, other.name, labels, annotations, template, instance, path,
                             problems)
        manifest = {"apiVersion": other.api_version, "kind": other.kind, "metadata": metadata, **body}
        manifests.others.append(RenderedObject(constants.ENTRY_OTHER, other.name, manifest))

    if problems:
        if substituter.unknown:
            raise UnknownVariableError(problems, substituter.unknown)
        raise RenderError(problems)
    return manifests


def render_all(template: Template, instances: Iterable[Instance]) -> list[Manifests]:
    """Render one template for several instances (used by `jupyternetes render` with many instance files)."""
    return [render(template, instance) for instance in instances]


class _AnyValue(dict):  # type: ignore[type-arg]
    """A variables mapping that knows every name: for checking a template's syntax without an instance."""

    def get(self, key: object, default: object = None) -> str:
        return ""


def template_problems(template: Template) -> list[str]:
    """Problems a template has whatever the instance: malformed braces, braces in field names, reserved labels."""
    substituter = _Substituter(_AnyValue())
    for kind, entries in (("pods", template.spec.pods), ("pvcs", template.spec.pvcs),
                          ("otherResources", template.spec.other_resources)):
        for index, entry in enumerate(entries):
            path = f"spec.{kind}[{index}]"
            labels = substituter.value(entry.labels, f"{path}.labels", "labels")
            annotations = substituter.value(entry.annotations, f"{path}.annotations", "annotations")
            substituter.value(getattr(entry, "spec", None) or getattr(entry, "body", {}), f"{path}.spec"
                              if kind != "otherResources" else f"{path}.body")
            substituter.problems.extend(_reserved_problems(labels, annotations, path))
    return substituter.problems
