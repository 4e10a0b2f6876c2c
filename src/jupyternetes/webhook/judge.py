"""What the webhook decides about each kind of object. Pure of HTTP: a parsed review in, a verdict out.

- Templates: every pod (as it will be after the mutating defaults) against the restricted floor and the policies;
  PVCs and other resources against the policies; placeholders well-formed.
- Instances: only the configured creators; an allowed template namespace; the spec immutable; the rendering (when
  the template exists) must succeed and pass the floor and the policies; variables within the policy's limits.
- Pods and PVCs labelled for Jupyternetes, or created by the operator: only the operator may create them, and each
  must equal what its instance's template renders; then the floor and the policies apply again.

Every problem is collected (never just the first), each naming the field, the rule and how to comply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from jupyternetes import constants, models, render
from jupyternetes.webhook import compare, defaults, floor
from jupyternetes.webhook.policy import Engine, PolicyData, PolicyUnavailable, PolicyViolation
from jupyternetes.webhook.review import Request
from jupyternetes.webhook.settings import WebhookSettings

logger = logging.getLogger(__name__)

JUPYTERNETES_LABELS: Final = frozenset(constants.RESERVED_LABELS) - {constants.LABEL_MANAGED_BY}
ENFORCE: Final = "enforce"


@dataclass(frozen=True)
class Finding:
    """One reason to refuse (or warn about) an object."""

    rule: str
    path: str
    message: str
    fix: str = ""
    mode: str = ENFORCE

    def describe(self) -> str:
        text = f"{self.path}: {self.message} (rule {self.rule})" if self.path else f"{self.message} (rule {self.rule})"
        return f"{text}; to comply: {self.fix}" if self.fix else text


@dataclass
class Verdict:
    subject: str
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def denials(self) -> list[Finding]:
        return [f for f in self.findings if f.mode == ENFORCE]

    @property
    def allowed(self) -> bool:
        return not self.denials

    def message(self) -> str:
        return f"{self.subject} is refused: " + "; ".join(f.describe() for f in self.denials)

    def all_warnings(self) -> list[str]:
        return self.warnings + [f"{f.describe()} [policy in warn mode]" for f in self.findings if f.mode == "warn"]

    def audit(self) -> dict[str, str]:
        audited = [f.describe() for f in self.findings if f.mode == "audit"]
        return {"policy-violations": " | ".join(audited)[:4000]} if audited else {}


class Lookup(Protocol):
    async def instance(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def template(self, namespace: str, name: str) -> dict[str, Any] | None: ...


def is_jupyternetes_object(obj: Mapping[str, Any] | None) -> bool:
    """Whether an object carries any label or annotation by which Jupyternetes recognises its own."""
    meta = (obj or {}).get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return (any(key in JUPYTERNETES_LABELS for key in labels)
            or labels.get(constants.LABEL_MANAGED_BY) == constants.MANAGED_BY
            or constants.ANNOTATION_INSTANCE_NAME in annotations)


def _subject(kind: str, obj: Mapping[str, Any] | None, request: Request) -> str:
    meta = (obj or {}).get("metadata") or {}
    namespace = meta.get("namespace") or request.namespace
    name = meta.get("name") or request.name or meta.get("generateName", "") + "*"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


class Judge:
    def __init__(self, settings: WebhookSettings, data: PolicyData, engine: Engine, lookup: Lookup) -> None:
        self.settings = settings
        self.data = data
        self.engine = engine
        self.lookup = lookup
        self.pod_defaults = defaults.PodDefaults(limits=data.default_limits)

    # Shared pieces -----------------------------------------------------------------------------------------------

    def _ask_policies(self, document: dict[str, Any]) -> asyncio.Task[list[PolicyViolation]]:
        """Start the policy query now, so OPA evaluates on the other core while the Python checks run."""
        return asyncio.ensure_future(self.engine.violations(document))

    async def _policies(self, verdict: Verdict, query: asyncio.Task[list[PolicyViolation]]) -> None:
        try:
            violations = await query
        except PolicyUnavailable as error:
            verdict.findings.append(Finding("policy-engine", "", f"{error}; nothing is admitted without a policy "
                                            "decision", "retry once the policy engine (OPA) is back"))
            return
        for violation in violations:
            verdict.findings.append(Finding(violation.policy, violation.path, violation.message, violation.fix,
                                            self.data.mode(violation.policy)))

    def _floor(self, verdict: Verdict, spec: Mapping[str, Any], path: str,
               annotations: Mapping[str, str] | None = None) -> None:
        for violation in floor.check_pod_spec(spec, path, annotations):
            verdict.findings.append(Finding(f"floor:{violation.rule}", violation.path, violation.message,
                                            violation.fix))

    # Templates ---------------------------------------------------------------------------------------------------

    async def template(self, request: Request) -> Verdict:
        obj = request.object or {}
        verdict = Verdict(_subject(constants.TEMPLATE_KIND, obj, request))
        try:
            template = models.parse_template(obj)
        except models.InvalidObjectError as error:
            verdict.findings += [Finding("schema", "", problem) for problem in error.problems]
            return verdict
        for problem in render.template_problems(template):
            path, _, message = problem.partition(": ")
            verdict.findings.append(Finding("template-syntax", path, message))
        pods = []
        for index, pod in enumerate(template.spec.pods):
            path = f"spec.pods[{index}].spec"
            spec, _ = defaults.apply(pod.spec, self.pod_defaults, path)
            pods.append({"path": path, "spec": spec, "annotations": pod.annotations})
        document = {
            "kind": constants.TEMPLATE_KIND,
            "operation": request.operation,
            "namespace": request.namespace,
            "pods": [{"path": pod["path"], "spec": pod["spec"]} for pod in pods],
            "pvcs": [{"path": f"spec.pvcs[{i}].spec", "spec": p.spec} for i, p in enumerate(template.spec.pvcs)],
            "others": [{"path": f"spec.otherResources[{i}]", "apiVersion": o.api_version, "kind": o.kind}
                       for i, o in enumerate(template.spec.other_resources)],
        }
        query = self._ask_policies(document)
        for pod in pods:
            self._floor(verdict, pod["spec"], pod["path"], pod["annotations"])
        await self._policies(verdict, query)
        return verdict

    # Instances ---------------------------------------------------------------------------------------------------

    async def instance(self, request: Request) -> Verdict:
        obj = request.object or {}
        verdict = Verdict(_subject(constants.INSTANCE_KIND, obj, request))
        user = request.user_info
        if request.operation == "CREATE" and not self.settings.may_create_instances(user.username, user.groups):
            verdict.findings.append(Finding(
                "instance-creators", "", f"{user.username or 'this user'} may not create notebook instances",
                "instances are created by JupyterHub's spawner; start a server from the hub"))
        try:
            instance = models.parse_instance(obj)
        except models.InvalidObjectError as error:
            verdict.findings += [Finding("schema", "", problem) for problem in error.problems]
            return verdict
        if request.operation == "UPDATE" and request.old_object is not None:
            old_spec = request.old_object.get("spec") or {}
            new_spec = obj.get("spec") or {}
            for key in sorted(set(old_spec) | set(new_spec)):
                if key not in self.settings.mutable_instance_fields and old_spec.get(key) != new_spec.get(key):
                    verdict.findings.append(Finding(
                        "instance-immutable", f"spec.{key}", "an instance's spec cannot change after creation",
                        "stop the server and start a new one with the new settings"))
        namespace = obj.get("metadata", {}).get("namespace") or request.namespace
        ref = instance.spec.template
        template_namespace = ref.namespace or namespace
        if not self.settings.template_namespace_allowed(namespace, template_namespace):
            allowed = " or ".join(repr(ns) for ns in dict.fromkeys([namespace, self.settings.template_namespace])
                                  if ns)
            verdict.findings.append(Finding(
                "template-namespace", "spec.template.namespace",
                f"templates from namespace {template_namespace!r} may not be used from {namespace!r}",
                f"use a template in {allowed}"))
            return verdict
        for name in self.data.sensitive_variables:
            if name in instance.spec.variables:
                verdict.warnings.append(f"spec.variables[{name!r}] holds a secret in plain text, readable by anyone "
                                        "who can read instances; the spawner should seal it instead")
        template_body = await self.lookup.template(template_namespace, ref.name)
        if template_body is None:
            verdict.warnings.append(f"template {template_namespace}/{ref.name} does not exist yet; the instance "
                                    "will wait for it")
            return verdict
        template = models.parse_template(template_body)
        instance.metadata.namespace = namespace
        try:
            manifests = render.render(template, instance)
        except render.RenderError as error:
            for problem in error.problems:
                path, _, message = problem.partition(": ")
                verdict.findings.append(Finding("render", path, message))
            return verdict
        pods = []
        for pod in manifests.pods:
            path = f"rendered pod {pod.entry_name!r}: spec"
            spec, _ = defaults.apply(pod.manifest["spec"], self.pod_defaults, path)
            pods.append({"path": path, "spec": spec, "annotations": pod.manifest["metadata"].get("annotations")})
        document = {
            "kind": constants.INSTANCE_KIND,
            "operation": request.operation,
            "namespace": namespace,
            "pods": [{"path": pod["path"], "spec": pod["spec"]} for pod in pods],
            "pvcs": [{"path": f"rendered pvc {p.entry_name!r}: spec", "spec": p.manifest["spec"]}
                     for p in manifests.pvcs],
            "others": [],
            "variables": instance.spec.variables,
            "sealed_variables": sorted(instance.spec.sealed_variables),
            "template_variables": sorted(render.variables_used(template.spec.model_dump(by_alias=True))),
        }
        query = self._ask_policies(document)
        for pod in pods:
            self._floor(verdict, pod["spec"], pod["path"], pod["annotations"])
        await self._policies(verdict, query)
        return verdict

    # Pods and PVCs -----------------------------------------------------------------------------------------------

    async def workload(self, request: Request) -> Verdict:
        """A Pod or PVC: only the operator creates Jupyternetes objects, and only exactly what templates render."""
        obj = request.object or {}
        kind = request.kind.kind
        verdict = Verdict(_subject(kind, obj, request))
        is_operator = request.user_info.username == self.settings.operator_user
        ours = is_jupyternetes_object(obj)
        if request.operation == "UPDATE":
            old = request.old_object or {}
            if is_jupyternetes_object(old) or ours:
                for problem in _protected_changes(old, obj, spec_too=kind == "Pod"):
                    verdict.findings.append(Finding("jupyternetes-objects", problem, "Jupyternetes objects cannot "
                                                    "be changed after creation", "stop and start the server instead"))
            return verdict
        if not is_operator:
            if ours:
                verdict.findings.append(Finding(
                    "operator-only", "metadata",
                    f"only the Jupyternetes operator may create {kind}s that carry Jupyternetes labels or annotations "
                    f"(this request came from {request.user_info.username or 'an unknown user'})",
                    "remove the jupyternetes.kadense.io/ labels and annotations, or start a server from the hub"))
            return verdict
        if not ours:
            verdict.findings.append(Finding(
                "rendered-only", "metadata", f"the operator may only create {kind}s rendered from a template, "
                "and this one carries no Jupyternetes labels", "this request did not come from a template"))
            return verdict
        query = self._ask_workload_policies(obj, kind, request.operation, request.namespace)
        await self._matches_rendering(verdict, obj, kind, request)
        await self.workload_policies(verdict, obj, kind, query)
        return verdict

    def _ask_workload_policies(self, obj: Mapping[str, Any], kind: str, operation: str,
                               namespace: str) -> asyncio.Task[list[PolicyViolation]]:
        spec = obj.get("spec") or {}
        return self._ask_policies({"kind": kind, "operation": operation, "namespace": namespace,
                                   "pods": [{"path": "spec", "spec": spec}] if kind == "Pod" else [],
                                   "pvcs": [{"path": "spec", "spec": spec}] if kind != "Pod" else [], "others": []})

    async def workload_policies(self, verdict: Verdict, obj: Mapping[str, Any], kind: str,
                                query: asyncio.Task[list[PolicyViolation]] | None = None,
                                namespace: str = "") -> None:
        """The floor (pods) and the policies, for a Pod or PVC as it is."""
        query = query or self._ask_workload_policies(obj, kind, "CREATE", namespace)
        if kind == "Pod":
            self._floor(verdict, obj.get("spec") or {}, "spec", (obj.get("metadata") or {}).get("annotations"))
        await self._policies(verdict, query)

    async def _matches_rendering(self, verdict: Verdict, obj: Mapping[str, Any], kind: str,
                                 request: Request) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or request.namespace
        labels = meta.get("labels") or {}
        instance_name = (meta.get("annotations") or {}).get(constants.ANNOTATION_INSTANCE_NAME, "")
        instance_body = await self.lookup.instance(namespace, instance_name) if instance_name else None
        if instance_body is None:
            verdict.findings.append(Finding("rendered-only", f"metadata.annotations[{constants.ANNOTATION_INSTANCE_NAME!r}]",
                                            f"no instance {namespace}/{instance_name} exists to render this {kind}",
                                            "objects are only created for existing instances"))
            return
        instance = models.parse_instance(instance_body)
        ref = instance.spec.template
        template_body = await self.lookup.template(ref.namespace or namespace, ref.name)
        if template_body is None:
            verdict.findings.append(Finding("rendered-only", "", f"template {ref.namespace or namespace}/{ref.name} "
                                            "of the instance does not exist", "create the template first"))
            return
        try:
            manifests = render.render(models.parse_template(template_body), instance)
        except render.RenderError as error:
            verdict.findings.append(Finding("rendered-only", "", f"the instance's template does not render: {error}"))
            return
        entry = labels.get(constants.LABEL_ENTRY)
        candidates = manifests.pods if kind == "Pod" else manifests.pvcs
        expected = next((o for o in candidates if o.entry_name == entry), None)
        if expected is None:
            verdict.findings.append(Finding("rendered-only", f"metadata.labels[{constants.LABEL_ENTRY!r}]",
                                            f"the template has no {kind} entry {entry!r}"))
            return
        manifest = expected.manifest
        if kind == "Pod":
            defaults.apply(manifest["spec"], self.pod_defaults, in_place=True)  # a fresh rendering: ours to change
        for difference in compare.differences(manifest, obj):
            verdict.findings.append(Finding("matches-template", difference.partition(": ")[0],
                                            f"differs from what template {ref.name} renders for instance "
                                            f"{instance_name}: {difference.partition(': ')[2]}",
                                            "the operator may only create exactly what the template renders"))
        for problem in compare.owner_problems(obj, instance_body["metadata"]["uid"]):
            verdict.findings.append(Finding("matches-template", "metadata.ownerReferences", problem))


def _protected_changes(old: Mapping[str, Any], new: Mapping[str, Any], spec_too: bool) -> list[str]:
    """What an update may not touch: Jupyternetes' own labels and annotations, and a pod's spec (a new image, an
    ephemeral container). A PVC's spec may change as Kubernetes allows (binding to a volume, expansion)."""
    changes = []
    if spec_too and (old.get("spec") or {}) != (new.get("spec") or {}):
        changes.append("spec")
    for field_name in ("labels", "annotations"):
        old_values = (old.get("metadata") or {}).get(field_name) or {}
        new_values = (new.get("metadata") or {}).get(field_name) or {}
        for key in set(old_values) | set(new_values):
            ours = key.startswith(constants.LABEL_PREFIX) or key == constants.LABEL_MANAGED_BY
            if ours and old_values.get(key) != new_values.get(key):
                changes.append(f"metadata.{field_name}[{key!r}]")
    return changes
