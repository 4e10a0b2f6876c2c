"""Python models of the two Jupyternetes kinds, `JupyterNotebookTemplate` and `JupyterNotebookInstance`.

These mirror the CRDs in `crds/` (a test holds the two together). Pod and PVC specs stay plain dictionaries: the CRD
schema already checks their structure against the Kubernetes OpenAPI, and the renderer must keep every field that a
`V1PodSpec` accepts, including ones newer than this code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from jupyternetes import constants, naming

#: Template entry names become part of object names and of variables such as `jupyternetes.pvcs.<name>`.
ENTRY_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENTRY_NAME_MAX_LENGTH: Final = 40
#: Variable names: what may appear between braces in a template.
VARIABLE_NAME_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
MAX_VARIABLE_NAME_LENGTH: Final = 253
#: Bounds the CRD sets on an instance's variables (the policy data may set tighter ones).
MAX_VARIABLES: Final = 256
MAX_VARIABLE_VALUE_LENGTH: Final = 65536

# States of one rendered object in the instance status.
STATE_PENDING: Final = "Pending"
STATE_WAITING: Final = "Waiting"
STATE_PROVISIONED: Final = "Provisioned"
STATE_RUNNING: Final = "Running"
STATE_SUCCEEDED: Final = "Succeeded"
STATE_FAILED: Final = "Failed"
STATE_DENIED: Final = "Denied"
STATE_ERROR: Final = "Error"
STATE_DELETED: Final = "Deleted"

CONDITION_READY: Final = "Ready"
CONDITION_PROGRESSING: Final = "Progressing"
CONDITION_DEGRADED: Final = "Degraded"

# Condition reasons: stable strings that tools match on, the operator writes (and its Warning Events carry), and
# the spawner turns into words for the user.
REASON_READY: Final = "PodsRunning"
REASON_PROVISIONING: Final = "Provisioning"
REASON_WAITING: Final = "Waiting"
REASON_AS_EXPECTED: Final = "AsExpected"
REASON_POD_FAILED: Final = "PodFailed"
REASON_POD_SUCCEEDED: Final = "PodSucceeded"
REASON_TEMPLATE_NOT_FOUND: Final = "TemplateNotFound"
REASON_TEMPLATE_NOT_ALLOWED: Final = "TemplateNamespaceNotAllowed"
REASON_RENDER_FAILED: Final = "RenderFailed"
REASON_KIND_NOT_ALLOWED: Final = "KindNotAllowed"
REASON_DENIED: Final = "AdmissionDenied"
REASON_WEBHOOK_UNAVAILABLE: Final = "AdmissionUnavailable"
REASON_QUOTA: Final = "QuotaExceeded"
REASON_INVALID: Final = "Invalid"
REASON_CONFLICT: Final = "NameConflict"
REASON_API_ERROR: Final = "ApiError"
REASON_SEALED: Final = "SealedVariablesUnreadable"
REASON_TEMPLATE_CHANGED: Final = "TemplateChanged"
REASON_CLAIM_LOST: Final = "ClaimLost"


class InvalidObjectError(ValueError):
    """An object does not have the shape of its kind. The message names every field that is wrong."""

    def __init__(self, kind: str, name: str, problems: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.problems = problems
        what = f"{kind} {name!r}" if name else kind
        super().__init__(f"{what} is invalid: " + "; ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=False, validate_assignment=False
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the Kubernetes API writes it: camelCase keys, unset optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(BaseModel):
    """The parts of `metadata` that Jupyternetes reads; everything else the API server adds is kept as is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: str | None = None


class _Entry(_Model):
    name: str = Field(pattern=ENTRY_NAME_PATTERN, max_length=ENTRY_NAME_MAX_LENGTH)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class PodEntry(_Entry):
    """One pod of a template: its name within the template, labels, annotations and a full `V1PodSpec`."""

    spec: dict[str, Any]


class PvcEntry(_Entry):
    """One PersistentVolumeClaim of a template: name within the template, labels, annotations, a PVC spec."""

    spec: dict[str, Any]


class OtherResourceEntry(_Entry):
    """Any other namespaced resource. `body` holds every top-level field but `apiVersion`, `kind` and `metadata`."""

    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    body: dict[str, Any] = Field(default_factory=dict)


class TemplateSpec(_Model):
    pods: list[PodEntry] = Field(default_factory=list)
    pvcs: list[PvcEntry] = Field(default_factory=list)
    other_resources: list[OtherResourceEntry] = Field(default_factory=list)

    @pydantic.model_validator(mode="after")
    def _unique_entry_names(self) -> TemplateSpec:
        for field, entries in (("pods", self.pods), ("pvcs", self.pvcs), ("otherResources", self.other_resources)):
            seen: set[str] = set()
            for index, entry in enumerate(entries):
                if entry.name in seen:
                    raise ValueError(f"spec.{field}[{index}].name: {entry.name!r} is used twice; names must be unique")
                seen.add(entry.name)
        return self


class Template(_Model):
    """A `JupyterNotebookTemplate`: what to create for each instance that refers to it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    api_version: Literal["kadense.io/v1"] = constants.API_VERSION
    kind: Literal["JupyterNotebookTemplate"] = constants.TEMPLATE_KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TemplateSpec = Field(default_factory=TemplateSpec)


class TemplateRef(_Model):
    """Which template an instance renders. Both parts become part of a request path, so both must be names."""

    name: str = Field(min_length=1, max_length=naming.DNS1123_SUBDOMAIN_MAX, pattern=naming.DNS1123_SUBDOMAIN_PATTERN)
    namespace: str | None = Field(default=None, min_length=1, max_length=naming.DNS1123_LABEL_MAX,
                                  pattern=naming.DNS1123_LABEL_PATTERN)


_VARIABLE_NAME = re.compile(VARIABLE_NAME_PATTERN)


def _check_variables(variables: dict[str, str]) -> dict[str, str]:
    if len(variables) > MAX_VARIABLES:
        raise ValueError(f"{len(variables)} variables; at most {MAX_VARIABLES} are allowed")
    for name, value in variables.items():
        if len(name) > MAX_VARIABLE_NAME_LENGTH or not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"{name[:80]!r} is not a variable name: use letters, digits, '_', '.' and '-', not "
                             f"starting with '.' or '-', at most {MAX_VARIABLE_NAME_LENGTH} characters")
        if len(value) > MAX_VARIABLE_VALUE_LENGTH:
            raise ValueError(f"the value of {name!r} is {len(value)} characters; at most "
                             f"{MAX_VARIABLE_VALUE_LENGTH} are allowed")
    return variables


class InstanceSpec(_Model):
    template: TemplateRef
    variables: dict[str, str] = Field(default_factory=dict)
    sealed_variables: dict[str, str] = Field(default_factory=dict)

    @pydantic.field_validator("variables")
    @classmethod
    def _plain_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_variables(value)

    @pydantic.field_validator("sealed_variables")
    @classmethod
    def _sealed_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_variables(value)

    @pydantic.model_validator(mode="after")
    def _sealed_and_plain_apart(self) -> InstanceSpec:
        both = sorted(set(self.variables) & set(self.sealed_variables))
        if both:
            raise ValueError(f"spec.sealedVariables: {', '.join(both)} also set in spec.variables; give each "
                             "variable once")
        return self


class ResourceState(_Model):
    """What happened to one rendered object."""

    resource_name: str | None = None
    kind: str | None = None
    api_version: str | None = None
    state: str | None = None
    error_message: str | None = None
    reason: str | None = None
    phase: str | None = None
    pod_ip: str | None = Field(default=None, alias="podIP")
    port: int | None = None


class Condition(_Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
    observed_generation: int | None = None


class RenderedFrom(_Model):
    """The template version an instance was rendered from (recorded once, at the first rendering)."""

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None


class InstanceStatus(_Model):
    pods: dict[str, ResourceState] = Field(default_factory=dict)
    pvcs: dict[str, ResourceState] = Field(default_factory=dict)
    other_resources: dict[str, ResourceState] = Field(default_factory=dict)
    secret: ResourceState | None = None
    pods_provisioned: str | None = None
    pvcs_provisioned: str | None = None
    other_resources_provisioned: dict[str, str] = Field(default_factory=dict)
    template: RenderedFrom | None = None
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class Instance(_Model):
    """A `JupyterNotebookInstance`: a reference to a template plus the values of its variables."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    api_version: Literal["kadense.io/v1"] = constants.API_VERSION
    kind: Literal["JupyterNotebookInstance"] = constants.INSTANCE_KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: InstanceSpec
    status: InstanceStatus | None = None


def http_port(pod_spec: Mapping[str, Any]) -> int | None:
    """The port a pod's server listens on, as instance status reports it and the webhook checks it: the container
    port named `http`, else the first port of any container, else None."""
    first: int | None = None
    for container in pod_spec.get("containers") or []:
        for port in container.get("ports") or []:
            number = port.get("containerPort")
            if not isinstance(number, int):
                continue
            if port.get("name") == "http":
                return number
            if first is None:
                first = number
    return first


def pod_images(pod_spec: Any) -> list[str]:
    """The image of every container, init container and ephemeral container of a pod spec, in order."""
    spec = pod_spec if isinstance(pod_spec, Mapping) else {}
    return [c["image"] for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or [] if isinstance(c, Mapping) and isinstance(c.get("image"), str) and c["image"]]


def template_namespace_allowed(instance_namespace: str, template_namespace: str, shared_namespace: str) -> bool:
    """Whether an instance may use a template: from its own namespace, or from the one shared template namespace.

    The operator and the webhook both apply this rule, with the same configured `shared_namespace`.
    """
    return template_namespace == instance_namespace or (
        bool(shared_namespace) and template_namespace == shared_namespace
    )


def _problems(error: pydantic.ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{path}: {message}" if path else message)
    return problems


def _parse(model: type[_Model], kind: str, obj: Any) -> Any:
    if not isinstance(obj, dict):
        raise InvalidObjectError(kind, "", [f"expected a mapping (a YAML object), got {type(obj).__name__}"])
    name = str((obj.get("metadata") or {}).get("name", "")) if isinstance(obj.get("metadata"), dict) else ""
    if obj.get("kind") != kind:
        raise InvalidObjectError(kind, name, [f"kind: expected {kind!r}, got {obj.get('kind')!r}"])
    if obj.get("apiVersion") != constants.API_VERSION:
        raise InvalidObjectError(
            kind, name, [f"apiVersion: expected {constants.API_VERSION!r}, got {obj.get('apiVersion')!r}"]
        )
    try:
        return model.model_validate(obj)
    except pydantic.ValidationError as error:
        raise InvalidObjectError(kind, name, _problems(error)) from None


def parse_template(obj: Any) -> Template:
    """A `Template` from a parsed manifest, or `InvalidObjectError` naming every wrong field."""
    return _parse(Template, constants.TEMPLATE_KIND, obj)  # type: ignore[no-any-return]


def parse_instance(obj: Any) -> Instance:
    """An `Instance` from a parsed manifest, or `InvalidObjectError` naming every wrong field."""
    return _parse(Instance, constants.INSTANCE_KIND, obj)  # type: ignore[no-any-return]
