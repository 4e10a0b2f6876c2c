"""What the webhook decides about each kind of object. Pure of HTTP: a parsed review in, a verdict out.

- Templates: every pod (as it will be after the mutating defaults) and PVC against the floor (the restricted profile
  and the field classification) and the policies; other resources against the policies; placeholders well-formed.
- Instances: only the configured creators; an existing template in an allowed namespace; the spec immutable; the
  rendering must succeed and pass the floor and the policies; variables within the policy's limits.
- Objects Jupyternetes makes (pods, PVCs, the instance's Secret, Services and ConfigMaps): only the operator may create
  an object that carries Jupyternetes' labels, annotations or an owner reference to an instance, and each must equal
  what its instance renders now, judged again with the instance's variables; nobody changes one afterwards.

Every problem is collected (never just the first), each naming the field, the rule and how to comply.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from jupyternetes import constants, models, naming, patterns, render, sessions
from jupyternetes.webhook import compare, defaults, floor, metrics, shape
from jupyternetes.webhook.policy import Engine, PolicyData, PolicyUnavailable, PolicyViolation
from jupyternetes.webhook.review import Request
from jupyternetes.webhook.settings import WebhookSettings

logger = logging.getLogger(__name__)

ENFORCE: Final = "enforce"
#: The rule of the finding added when the policy engine gives no answer.
RULE_POLICY_ENGINE: Final = "policy-engine"
#: The kinds of object Jupyternetes makes, by the resource a review names.
MADE_KINDS: Final = {"pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim", "secrets": "Secret",
                     "services": "Service", "configmaps": "ConfigMap"}
_ENTRY_KINDS: Final = {"Pod": constants.ENTRY_POD, "PersistentVolumeClaim": constants.ENTRY_PVC,
                       "Secret": constants.ENTRY_SECRET, "Service": constants.ENTRY_OTHER,
                       "ConfigMap": constants.ENTRY_OTHER}
#: Parts of a PVC's spec that the control plane fills in after creation (binding, a default class set later).
_PVC_BINDING_FIELDS: Final = frozenset({"volumeName", "storageClassName"})


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


def _instance_pod(pod: Mapping[str, Any], instance: str, uid: str, entry: str) -> bool:
    """Whether `pod` is provably the one the operator made for `instance` (this uid) and its pod entry `entry`: the
    controller reference names the instance by group, kind, name and uid, and the entry label, entry kind and the
    instance annotation (which only the operator can set) agree; a pod being deleted is no one's address."""
    meta = _mapping(pod.get("metadata"))
    owner = next((r for r in meta.get("ownerReferences") or [] if isinstance(r, Mapping) and r.get("controller")),
                 {})
    labels, annotations = _mapping(meta.get("labels")), _mapping(meta.get("annotations"))
    return (owner.get("apiVersion") == constants.API_VERSION and owner.get("kind") == constants.INSTANCE_KIND
            and owner.get("name") == instance and owner.get("uid") == uid and bool(uid)
            and labels.get(constants.LABEL_MANAGED_BY) == constants.MANAGED_BY
            and labels.get(constants.LABEL_ENTRY) == entry
            and labels.get(constants.LABEL_ENTRY_KIND) == constants.ENTRY_POD
            and annotations.get(constants.ANNOTATION_INSTANCE_NAME) == instance
            and not meta.get("deletionTimestamp"))


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

    @property
    def undecided(self) -> bool:
        """Refused only because the policy engine gave no answer: "not now" rather than "no" (the webhook answers
        503, and a client may retry)."""
        return bool(self.denials) and all(f.rule == RULE_POLICY_ENGINE for f in self.denials)

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

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def instances_using(self, namespace: str, name: str) -> list[str]: ...


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def is_jupyternetes_object(obj: Mapping[str, Any] | None) -> bool:
    """Whether an object carries anything by which Jupyternetes would take it for its own: a label or annotation
    under jupyternetes.kadense.io/, the managed-by label, or an owner reference to a notebook instance. (The same test
    as the webhook configuration's match condition and the admission policy.)"""
    meta = _mapping(_mapping(obj).get("metadata"))
    labels = _mapping(meta.get("labels"))
    annotations = _mapping(meta.get("annotations"))
    owners = meta.get("ownerReferences") if isinstance(meta.get("ownerReferences"), list) else []
    return (any(str(key).startswith(constants.LABEL_PREFIX) for key in labels)
            or labels.get(constants.LABEL_MANAGED_BY) == constants.MANAGED_BY
            or any(str(key).startswith(constants.LABEL_PREFIX) for key in annotations)
            or any(isinstance(ref, Mapping) and ref.get("kind") == constants.INSTANCE_KIND
                   and str(ref.get("apiVersion", "")).startswith(constants.GROUP + "/") for ref in owners))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _subject(kind: str, obj: Mapping[str, Any] | None, request: Request) -> str:
    meta = _mapping(_mapping(obj).get("metadata"))
    namespace = _text(meta.get("namespace")) or request.namespace
    name = _text(meta.get("name")) or request.name or _text(meta.get("generateName")) + "*"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(frozen=True)
class _Rendering:
    """An instance rendered with its current template, for judging it or an object made from it."""

    instance_body: dict[str, Any]
    instance: models.Instance
    template: models.Template
    manifests: render.Manifests


class Judge:
    def __init__(self, settings: WebhookSettings, data: PolicyData, engine: Engine, lookup: Lookup) -> None:
        self.settings = settings
        self.data = data
        self.engine = engine
        self.lookup = lookup
        self.pod_defaults = defaults.PodDefaults(limits=data.default_limits)
        self.components = frozenset(settings.component_service_accounts)

    # Shared pieces -----------------------------------------------------------------------------------------------

    def template_defaults(self, namespace: str, name: str) -> defaults.PodDefaults:
        """The defaults the mutating webhook fills into template `namespace/name`'s pods: `pod_defaults` and the
        template's session limit."""
        return defaults.PodDefaults(limits=self.pod_defaults.limits,
                                    active_deadline_seconds=sessions.limit(self.data.config, namespace, name))

    def _ask_policies(self, document: dict[str, Any]) -> asyncio.Task[list[PolicyViolation]]:
        """The policy query, as a task. It starts when the caller next waits: on Python 3.11, whose tasks do not start
        eagerly, that is after the Python checks that follow. Letting it start first (two turns of the event loop) made
        no difference that could be measured (docs/benchmarks.md, 2026-12-06), so it is not done."""
        return asyncio.ensure_future(self.engine.violations(document))

    async def _policies(self, verdict: Verdict, query: asyncio.Task[list[PolicyViolation]]) -> None:
        try:
            violations = await query
        except PolicyUnavailable as error:
            metrics.POLICY_ERRORS.inc()
            verdict.findings.append(Finding(RULE_POLICY_ENGINE, "", f"{error}; nothing is admitted without a policy "
                                            "decision", "retry once the policy engine (OPA) is back"))
            return
        for violation in violations:
            verdict.findings.append(Finding(violation.policy, violation.path, violation.message, violation.fix,
                                            self.data.mode(violation.policy)))

    def _floor(self, verdict: Verdict, spec: Mapping[str, Any], path: str,
               annotations: Mapping[str, str] | None = None) -> None:
        # A template's pod keeps its annotations beside its spec (spec.pods[0].annotations); a pod in its metadata.
        where = path.removesuffix("spec")
        annotations_path = where + ("annotations" if path.startswith("spec.pods[") else "metadata.annotations")
        for violation in floor.check_pod_spec(spec, path, annotations, allowed_fields=self.data.allowed_fields,
                                              components=self.components, annotations_path=annotations_path):
            verdict.findings.append(Finding(f"floor:{violation.rule}", violation.path, violation.message,
                                            violation.fix))

    def _pvc_floor(self, verdict: Verdict, spec: Mapping[str, Any], path: str) -> None:
        for violation in floor.check_pvc_spec(spec, path, allowed_fields=self.data.allowed_fields):
            verdict.findings.append(Finding(f"floor:{violation.rule}", violation.path, violation.message,
                                            violation.fix))

    @staticmethod
    def _document(kind: str, operation: str, namespace: str, *, pods: list[dict[str, Any]],
                  pvcs: list[dict[str, Any]], others: list[dict[str, Any]], own_secret: str,
                  own_pvcs: list[str], own_configmaps: list[str] | None = None,
                  instance: models.Instance | None = None, template: models.Template | None = None,
                  template_ref: tuple[str, str] | None = None) -> dict[str, Any]:
        """The input of every policy (see policies/lib/lib.rego)."""
        document: dict[str, Any] = {"kind": kind, "operation": operation, "namespace": namespace, "pods": pods,
                                    "pvcs": pvcs, "others": others, "own_secret": own_secret, "own_pvcs": own_pvcs,
                                    "own_configmaps": own_configmaps or []}
        if template_ref is not None:
            document["template"] = {"namespace": template_ref[0], "name": template_ref[1]}
        if instance is not None and template is not None:
            document["variables"] = instance.spec.variables
            document["sealed_variables"] = sorted(instance.spec.sealed_variables)
            document["template_variables"] = sorted(render.variables_used(template.spec.model_dump(by_alias=True)))
        return document

    @staticmethod
    def _others(entries: list[tuple[str, str, str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        return [{"path": path, "apiVersion": api_version, "kind": kind, "body": dict(body)}
                for path, api_version, kind, body in entries]

    # Templates ---------------------------------------------------------------------------------------------------

    async def template(self, request: Request) -> Verdict:
        if request.operation == "DELETE":
            return await self._template_delete(request)
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
        ref = (template.metadata.namespace or request.namespace, template.metadata.name or request.name)
        pod_defaults = self.template_defaults(*ref)
        pods = []
        for index, pod in enumerate(template.spec.pods):
            path = f"spec.pods[{index}].spec"
            spec, _ = defaults.apply(pod.spec, pod_defaults, path)
            pods.append({"path": path, "spec": spec, "annotations": pod.annotations, "labels": pod.labels})
        pvcs = [{"path": f"spec.pvcs[{i}].spec", "spec": p.spec} for i, p in enumerate(template.spec.pvcs)]
        document = self._document(
            constants.TEMPLATE_KIND, request.operation, request.namespace,
            pods=[{"path": pod["path"], "spec": pod["spec"], "labels": pod["labels"]} for pod in pods], pvcs=pvcs,
            others=self._others([(f"spec.otherResources[{i}]", o.api_version, o.kind, o.body)
                                 for i, o in enumerate(template.spec.other_resources)]),
            own_secret="{" + constants.VAR_SECRET + "}",
            own_pvcs=["{" + constants.VAR_PVC_PREFIX + p.name + "}" for p in template.spec.pvcs],
            own_configmaps=["{" + constants.VAR_OTHER_PREFIX + o.name + "}" for o in template.spec.other_resources
                            if o.kind == "ConfigMap"],
            template_ref=ref)
        query = self._ask_policies(document)
        for pod in pods:
            self._floor(verdict, pod["spec"], pod["path"], pod["annotations"])
        for pvc in pvcs:
            self._pvc_floor(verdict, pvc["spec"], pvc["path"])
        await self._policies(verdict, query)
        return verdict

    async def _template_delete(self, request: Request) -> Verdict:
        """A template that instances still use is not deleted out from under them: the operator could no longer
        make a missing object for a running server, and the spawner's next start of that profile would fail
        without saying why. The officer stops those servers first (or keeps the template, and takes it off the
        profiles and entitlements so that nobody starts a new one)."""
        verdict = Verdict(_subject(constants.TEMPLATE_KIND, request.old_object, request))
        # A collection delete (`kubectl delete --all`, the namespace controller) names each object only in oldObject.
        old_meta = _mapping(_mapping(request.old_object).get("metadata"))
        namespace = request.namespace or _text(old_meta.get("namespace"))
        name = request.name or _text(old_meta.get("name"))
        if not (namespace and name):
            verdict.findings.append(Finding(
                "template-in-use", "", "the deletion names no template, so it cannot be checked for instances that "
                "use it", "delete the template by name"))
            return verdict
        try:
            users = await self.lookup.instances_using(namespace, name)
        except Exception as error:  # noqa: BLE001 - any failure to list is a refusal, never an unchecked deletion
            verdict.findings.append(Finding(
                "template-in-use", "", f"cannot tell whether instances use this template ({error})",
                "retry once the API server answers"))
            return verdict
        if users:
            shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
            verdict.findings.append(Finding(
                "template-in-use", "", f"{len(users)} notebook instance(s) still use it: {shown}",
                "stop those servers first (from the hub, or delete the instances); to stop new servers from using "
                "it meanwhile, take it off the hub's profiles and the entitlements"))
        return verdict

    # Instances ---------------------------------------------------------------------------------------------------

    async def _rendering(self, verdict: Verdict, instance_body: dict[str, Any], namespace: str,
                         rule: str) -> _Rendering | None:
        """The instance rendered with its template as it is now; every reason it cannot be is a finding."""
        try:
            instance = models.parse_instance(instance_body)
        except models.InvalidObjectError as error:
            verdict.findings += [Finding("schema", "", problem) for problem in error.problems]
            return None
        instance.metadata.namespace = namespace
        ref = instance.spec.template
        template_namespace = ref.namespace or namespace
        if not self.settings.template_namespace_allowed(namespace, template_namespace):
            allowed = " or ".join(repr(ns) for ns in dict.fromkeys([namespace, self.settings.template_namespace])
                                  if ns)
            verdict.findings.append(Finding(
                "template-namespace", "spec.template.namespace",
                f"templates from namespace {template_namespace!r} may not be used from {namespace!r}",
                f"use a template in {allowed}"))
            return None
        template_body = await self.lookup.template(template_namespace, ref.name)
        if template_body is None:
            verdict.findings.append(Finding(
                rule, "spec.template", f"template {template_namespace}/{ref.name} does not exist, so the instance "
                "cannot be judged against it", "choose an existing template, or ask a security officer to create "
                "this one first"))
            return None
        try:
            template = models.parse_template(template_body)
            manifests = render.render(template, instance)
        except models.InvalidObjectError as error:
            verdict.findings.append(Finding(rule, "spec.template", f"the template does not parse: {error}"))
            return None
        except render.RenderError as error:
            for problem in error.problems:
                path, _, message = problem.partition(": ")
                verdict.findings.append(Finding("render", path, message))
            return None
        return _Rendering(instance_body, instance, template, manifests)

    async def instance(self, request: Request) -> Verdict:
        obj = request.object or {}
        verdict = Verdict(_subject(constants.INSTANCE_KIND, obj, request))
        if request.sub_resource == "status":
            await self._status(verdict, obj, request.old_object or {}, request.namespace)
            return verdict
        user = request.user_info
        if request.operation == "CREATE" and not self.settings.may_create_instances(user.username, user.groups):
            verdict.findings.append(Finding(
                "instance-creators", "", f"{user.username or 'this user'} may not create notebook instances",
                "instances are created by JupyterHub's spawner; start a server from the hub"))
        if request.operation == "UPDATE" and request.old_object is not None:
            old_spec = _mapping(request.old_object.get("spec"))
            new_spec = _mapping(obj.get("spec"))
            for key in sorted(set(old_spec) | set(new_spec)):
                if old_spec.get(key) != new_spec.get(key):
                    verdict.findings.append(Finding(
                        "instance-immutable", f"spec.{key}", "an instance's spec cannot change after creation",
                        "stop the server and start a new one with the new settings"))
        namespace = _mapping(obj.get("metadata")).get("namespace") or request.namespace
        rendering = await self._rendering(verdict, obj, namespace, "template-missing")
        if rendering is None:
            return verdict
        for name in self.data.sensitive_variables:
            if name in rendering.instance.spec.variables:
                verdict.warnings.append(f"spec.variables[{name!r}] holds a secret in plain text, readable by anyone "
                                        "who can read instances; the spawner should seal it instead")
        pods = []
        for pod in rendering.manifests.pods:
            path = f"rendered pod {pod.entry_name!r}: spec"
            spec, _ = defaults.apply(pod.manifest["spec"], self.pod_defaults, path)
            pods.append({"path": path, "spec": spec, "annotations": pod.manifest["metadata"].get("annotations"),
                         "labels": pod.manifest["metadata"].get("labels") or {}})
        pvcs = [{"path": f"rendered pvc {p.entry_name!r}: spec", "spec": p.manifest["spec"]}
                for p in rendering.manifests.pvcs]
        document = self._instance_document(rendering, request.operation, namespace,
                                           pods=[{"path": pod["path"], "spec": pod["spec"], "labels": pod["labels"]}
                                                 for pod in pods], pvcs=pvcs)
        query = self._ask_policies(document)
        for pod in pods:
            self._floor(verdict, pod["spec"], pod["path"], pod["annotations"])
        for pvc in pvcs:
            self._pvc_floor(verdict, pvc["spec"], pvc["path"])
        await self._policies(verdict, query)
        return verdict

    async def _status(self, verdict: Verdict, new: Mapping[str, Any], old: Mapping[str, Any],
                      namespace: str) -> None:
        """The hub sends users to the address an instance's status names: every address that is added or changes
        must be that of the instance's own pod for that entry (its rendered name, a controller reference to this very
        instance, the entry's label and the instance's annotation, which only the operator can set, not being
        deleted) at the IP the pod has and the port its template declares. An entry without an IP sends nobody
        anywhere and is not judged."""
        meta = _mapping(new.get("metadata"))
        name, uid = _text(meta.get("name")), _text(meta.get("uid"))
        new_pods = _mapping(_mapping(new.get("status")).get("pods"))
        old_pods = _mapping(_mapping(old.get("status")).get("pods"))
        for entry, state in new_pods.items():
            state = _mapping(state)
            address = (state.get("resourceName"), state.get("podIP"), state.get("port"))
            before = _mapping(old_pods.get(entry))
            if not state.get("podIP"):
                continue
            if address == (before.get("resourceName"), before.get("podIP"), before.get("port")):
                continue
            path = f"status.pods[{entry!r}]"
            expected = naming.object_name(name, str(entry))
            pod = await self.lookup.pod(namespace, expected) if state.get("resourceName") == expected else None
            pod_status = _mapping(_mapping(pod).get("status"))
            ips = {_text(pod_status.get("podIP"))}
            ips |= {_text(_mapping(i).get("ip")) for i in pod_status.get("podIPs") or []}
            ips.discard("")
            port = models.http_port(_mapping(_mapping(pod).get("spec"))) if pod else None
            if (pod is None or not _instance_pod(pod, name, uid, str(entry)) or state.get("podIP") not in ips
                    or state.get("port") != port):
                verdict.findings.append(Finding(
                    "status-address", path, f"says the server is at {state.get('podIP')}:{state.get('port')} "
                    f"(pod {state.get('resourceName')}), which is not the address of this instance's pod "
                    f"{expected}", "only the operator writes status, and only its own pods' addresses"))

    def _instance_document(self, rendering: _Rendering, operation: str, namespace: str, *,
                           pods: list[dict[str, Any]], pvcs: list[dict[str, Any]],
                           others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        manifests = rendering.manifests
        return self._document(
            constants.INSTANCE_KIND, operation, namespace, pods=pods, pvcs=pvcs,
            others=others if others is not None else self._others(
                [(f"rendered {o.entry_name!r}", o.api_version, o.kind,
                  {k: v for k, v in o.manifest.items() if k not in ("apiVersion", "kind", "metadata")})
                 for o in manifests.others]),
            own_secret=naming.object_name(rendering.instance.metadata.name, constants.SECRET_ENTRY),
            own_pvcs=[p.name for p in manifests.pvcs],
            own_configmaps=[o.name for o in manifests.others if o.kind == "ConfigMap"],
            instance=rendering.instance, template=rendering.template,
            template_ref=(rendering.instance.spec.template.namespace or namespace,
                          rendering.instance.spec.template.name))

    # Objects Jupyternetes makes ----------------------------------------------------------------------------------

    async def workload(self, request: Request) -> Verdict:
        """A pod, PVC, Secret, Service or ConfigMap: only the operator creates Jupyternetes objects, only exactly what
        an instance renders now, and nobody changes them afterwards."""
        obj = request.object or {}
        kind = MADE_KINDS.get(request.resource.resource, request.kind.kind)
        verdict = Verdict(_subject(kind, obj, request))
        wrong = shape.problems(obj, kind)
        if request.old_object is not None:
            wrong += [f"oldObject.{problem}" for problem in shape.problems(request.old_object, kind)]
        if wrong:
            verdict.findings += [Finding("schema", problem.partition(": ")[0], problem.partition(": ")[2])
                                 for problem in wrong]
            return verdict
        is_operator = request.user_info.username == self.settings.operator_user
        ours = is_jupyternetes_object(obj)
        if is_operator and request.namespace in self.settings.unjudged_namespaces():
            verdict.findings.append(Finding(
                "exempt-namespaces", "metadata.namespace",
                f"the operator never creates or changes anything in namespace {request.namespace}, which the "
                "webhook does not judge", "instances live in the users' namespaces"))
            return verdict
        if request.operation == "UPDATE":
            old = request.old_object or {}
            if is_jupyternetes_object(old) or ours:
                for problem in _protected_changes(old, obj, kind, request.sub_resource,
                                                  request.user_info.username):
                    verdict.findings.append(Finding("jupyternetes-objects", problem, "Jupyternetes objects cannot "
                                                    "be changed after creation", "stop and start the server instead"))
            return verdict
        if not is_operator:
            if ours:
                verdict.findings.append(Finding(
                    "operator-only", "metadata",
                    f"only the Jupyternetes operator may create {kind}s that carry Jupyternetes labels, annotations "
                    f"or an owner reference to a notebook instance (this request came from "
                    f"{request.user_info.username or 'an unknown user'})",
                    "remove the jupyternetes.kadense.io/ labels and annotations and the owner reference, or start a "
                    "server from the hub"))
            return verdict
        if not ours:
            verdict.findings.append(Finding(
                "rendered-only", "metadata", f"the operator may only create {kind}s rendered from a template, "
                "and this one carries no Jupyternetes labels", "this request did not come from a template"))
            return verdict
        namespace = _mapping(obj.get("metadata")).get("namespace") or request.namespace
        rendering, expected = await self._expected(verdict, obj, kind, namespace)
        if rendering is None or expected is None:
            return verdict
        if kind == "Secret":
            self._judge_secret(verdict, obj, expected, rendering)
            return verdict
        query = self._ask_policies(self._made_document(rendering, obj, kind, request.operation, namespace))
        if kind == "Pod":
            defaults.apply(expected["spec"], self.pod_defaults, in_place=True)  # a fresh rendering: ours to change
        for difference in compare.differences(expected, obj):
            verdict.findings.append(Finding("matches-template", difference.partition(": ")[0],
                                            f"differs from what template {rendering.template.metadata.name} renders "
                                            f"for instance {rendering.instance.metadata.name}: "
                                            f"{difference.partition(': ')[2]}",
                                            "the operator may only create exactly what the template renders"))
        self._owned(verdict, obj, kind, rendering)
        if kind == "Pod":
            self._floor(verdict, _mapping(obj.get("spec")), "spec", _mapping(obj.get("metadata")).get("annotations"))
        elif kind == "PersistentVolumeClaim":
            self._pvc_floor(verdict, _mapping(obj.get("spec")), "spec")
        await self._policies(verdict, query)
        return verdict

    async def workload_policies(self, verdict: Verdict, obj: Mapping[str, Any], kind: str,
                                namespace: str = "") -> None:
        """The floor and the policies for a Pod or PVC as it is, without an instance (`jupyternetes policy test`)."""
        spec = _mapping(obj.get("spec"))
        labels = dict(_mapping(_mapping(obj.get("metadata")).get("labels")))
        query = self._ask_policies(self._document(
            kind, "CREATE", namespace,
            pods=[{"path": "spec", "spec": spec, "labels": labels}] if kind == "Pod" else [],
            pvcs=[{"path": "spec", "spec": spec}] if kind != "Pod" else [], others=[], own_secret="",
            own_pvcs=[]))
        if kind == "Pod":
            self._floor(verdict, spec, "spec", _mapping(obj.get("metadata")).get("annotations"))
        else:
            self._pvc_floor(verdict, spec, "spec")
        await self._policies(verdict, query)

    def _made_document(self, rendering: _Rendering, obj: Mapping[str, Any], kind: str, operation: str,
                       namespace: str) -> dict[str, Any]:
        """The instance's policy input, with the object under admission in place of its rendering: the object is
        judged as it is, together with the variables it was rendered from."""
        spec = _mapping(obj.get("spec"))
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
        labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
        return self._instance_document(
            rendering, operation, namespace,
            pods=[{"path": "spec", "spec": spec, "labels": dict(labels)}] if kind == "Pod" else [],
            pvcs=[{"path": "spec", "spec": spec}] if kind == "PersistentVolumeClaim" else [],
            others=self._others([("", str(obj.get("apiVersion", "v1")), kind, body)])
            if kind in ("Service", "ConfigMap") else [])

    async def _expected(self, verdict: Verdict, obj: Mapping[str, Any], kind: str,
                        namespace: str) -> tuple[_Rendering | None, dict[str, Any] | None]:
        """The instance the object names, rendered now, and the manifest its entry renders to."""
        meta = _mapping(obj.get("metadata"))
        labels = _mapping(meta.get("labels"))
        annotation = f"metadata.annotations[{constants.ANNOTATION_INSTANCE_NAME!r}]"
        instance_name = str(_mapping(meta.get("annotations")).get(constants.ANNOTATION_INSTANCE_NAME, ""))
        instance_body = await self.lookup.instance(namespace, instance_name) if instance_name else None
        if instance_body is None:
            verdict.findings.append(Finding("rendered-only", annotation,
                                            f"no instance {namespace}/{instance_name} exists to render this {kind}",
                                            "objects are only created for existing instances"))
            return None, None
        rendering = await self._rendering(verdict, instance_body, namespace, "rendered-only")
        if rendering is None:
            return None, None
        entry_kind = labels.get(constants.LABEL_ENTRY_KIND)
        if entry_kind != _ENTRY_KINDS[kind]:
            verdict.findings.append(Finding("rendered-only", f"metadata.labels[{constants.LABEL_ENTRY_KIND!r}]",
                                            f"a {kind} is rendered from a {_ENTRY_KINDS[kind]!r} entry, not from "
                                            f"{entry_kind!r}"))
            return None, None
        entry = labels.get(constants.LABEL_ENTRY)
        if kind == "Secret":
            secret = render.instance_secret(rendering.instance, dict.fromkeys(rendering.instance.spec.sealed_variables,
                                                                              ""))
            if secret is None or entry != constants.SECRET_ENTRY:
                verdict.findings.append(Finding("rendered-only", f"metadata.labels[{constants.LABEL_ENTRY!r}]",
                                                f"instance {instance_name} has no Secret to make"))
                return None, None
            return rendering, secret
        candidates = {"Pod": rendering.manifests.pods, "PersistentVolumeClaim": rendering.manifests.pvcs}.get(
            kind, rendering.manifests.others)
        expected = next((o for o in candidates if o.entry_name == entry and o.kind == kind), None)
        if expected is None:
            verdict.findings.append(Finding("rendered-only", f"metadata.labels[{constants.LABEL_ENTRY!r}]",
                                            f"the template has no {kind} entry {entry!r}"))
            return None, None
        return rendering, dict(expected.manifest)

    def _owned(self, verdict: Verdict, obj: Mapping[str, Any], kind: str, rendering: _Rendering) -> None:
        """The object's owner is its instance (a controller reference with the instance's uid); only a workspace
        PVC may have no owner, so that it outlives the instance."""
        refs = _mapping(obj.get("metadata")).get("ownerReferences") or []
        uid = rendering.instance_body["metadata"].get("uid")
        name = rendering.instance.metadata.name
        if not refs and kind == "PersistentVolumeClaim":
            return
        ok = (isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], Mapping)
              and refs[0].get("uid") == uid and refs[0].get("kind") == constants.INSTANCE_KIND
              and refs[0].get("apiVersion") == constants.API_VERSION and refs[0].get("name") == name
              and refs[0].get("controller") is True)
        if not ok:
            verdict.findings.append(Finding(
                "matches-template", "metadata.ownerReferences",
                f"the only owner reference must be a controller reference to instance {name} (uid {uid})",
                "the operator sets it; nothing else may"))

    def _judge_secret(self, verdict: Verdict, obj: Mapping[str, Any], expected: dict[str, Any],
                      rendering: _Rendering) -> None:
        """The instance's Secret: Opaque, named, labelled and owned as rendered, exactly the keys the instance's
        variables give, plain values as the instance has them, and sealed values (opened by the operator, seen here
        for the first time) within the same limits as plain variables."""
        for difference in compare.differences({**expected, "stringData": None}, {**obj, "data": None}):
            verdict.findings.append(Finding("matches-template", difference.partition(": ")[0],
                                            f"differs from the instance's Secret: {difference.partition(': ')[2]}"))
        self._owned(verdict, obj, "Secret", rendering)
        if obj.get("type", "Opaque") != "Opaque":
            verdict.findings.append(Finding("matches-template", "type", f"type {obj.get('type')!r} is not Opaque",
                                            "the operator only makes Opaque Secrets"))
        data = _mapping(obj.get("data"))
        instance = rendering.instance
        sealed = {render.secret_key(name): name for name in instance.spec.sealed_variables}
        plain = {render.secret_key(name): value for name, value in instance.spec.variables.items()
                 if name.startswith(constants.ENV_VARIABLE_PREFIX)}
        expected_keys = set(sealed) | set(plain)
        if set(data) != expected_keys or obj.get("stringData"):
            verdict.findings.append(Finding(
                "matches-template", "data", f"keys {sorted(map(str, data))} are not the instance's "
                f"{sorted(expected_keys)}", "the Secret holds exactly the instance's hub environment and sealed "
                "variables"))
            return
        for key, raw in data.items():
            try:
                value = base64.b64decode(str(raw), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                verdict.findings.append(Finding("matches-template", f"data[{key!r}]", "is not base64 of UTF-8 text"))
                continue
            if key in plain:
                if value != plain[key]:
                    verdict.findings.append(Finding("matches-template", f"data[{key!r}]",
                                                    "differs from the instance's variable"))
                continue
            self._sealed_value(verdict, sealed[key], value)

    def _sealed_value(self, verdict: Verdict, variable: str, value: str) -> None:
        """The limits of policies/variables applied to an opened sealed value (never written into a message)."""
        path = f"spec.sealedVariables[{variable!r}]"
        limit = self.data.variable_max_length
        if limit is not None and len(value) > limit:
            verdict.findings.append(Finding("variables", path, f"the opened value is longer than the most allowed, "
                                            f"{limit} characters", "shorten the value",
                                            self.data.mode("variables")))
        pattern = self.data.variable_patterns.get(variable)
        if pattern is not None:
            # The whole value, in RE2 as OPA judges plain values (policies/variables): never Python's `re`, whose `$`
            # passes a final newline and whose `\d` passes any script's digits.
            if not patterns.whole_match(pattern, value):
                verdict.findings.append(Finding("variables", path, f"the opened value does not match the pattern "
                                                f"{pattern}", "give a value that matches the pattern",
                                                self.data.mode("variables")))


    # Stored objects (`jupyternetes audit` and the webhook's periodic audit) --------------------------------------

    @staticmethod
    def _stored_request(obj: Mapping[str, Any], kind: str, plural: str, operation: str) -> Request:
        """A review of `obj` as it is stored, made up for judging it again (nobody is asking)."""
        meta = _mapping(obj.get("metadata"))
        return Request.model_validate({
            "uid": f"audit-{_text(meta.get('uid')) or 'unknown'}",
            "kind": {"group": constants.GROUP, "version": constants.VERSION, "kind": kind},
            "resource": {"group": constants.GROUP, "version": constants.VERSION, "resource": plural},
            "name": _text(meta.get("name")), "namespace": _text(meta.get("namespace")), "operation": operation,
            "userInfo": {"username": "jupyternetes-audit"},
            "object": dict(obj), "oldObject": dict(obj) if operation == "UPDATE" else None})

    async def stored_template(self, obj: Mapping[str, Any]) -> Verdict:
        """A stored template judged as if it were created now, against the floor and the policies as they are."""
        return await self.template(self._stored_request(obj, constants.TEMPLATE_KIND, constants.TEMPLATE_PLURAL,
                                                        "CREATE"))

    async def stored_instance(self, obj: Mapping[str, Any]) -> Verdict:
        """A stored instance rendered with its template as it is now and judged (as an unchanged update, so who may
        create instances and whether its spec changed are not asked again: they were settled when it was made)."""
        return await self.instance(self._stored_request(obj, constants.INSTANCE_KIND, constants.INSTANCE_PLURAL,
                                                        "UPDATE"))

    async def stored_pod(self, obj: Mapping[str, Any]) -> Verdict:
        """A running pod against the floor and the policies (`workload_policies`). Its `spec.nodeName` is left out:
        the scheduler sets it after admission, and a pod created with one was refused then."""
        meta = _mapping(obj.get("metadata"))
        namespace = _text(meta.get("namespace"))
        verdict = Verdict(f"Pod {namespace}/{_text(meta.get('name'))}")
        spec = {k: v for k, v in _mapping(obj.get("spec")).items() if k != "nodeName"}
        await self.workload_policies(verdict, {**obj, "spec": spec}, "Pod", namespace)
        return verdict

#: Who may remove owner references (the garbage collector, with or without its own service account).
_COLLECTORS: Final = frozenset({"system:serviceaccount:kube-system:generic-garbage-collector",
                                "system:kube-controller-manager"})


def _control_plane(username: str) -> bool:
    """The control plane's own identities: controllers in kube-system, kubelets, the scheduler."""
    return (username.startswith(("system:serviceaccount:kube-system:", "system:node:"))
            or username in ("system:kube-controller-manager", "system:kube-scheduler"))


def _protected_changes(old: Mapping[str, Any], new: Mapping[str, Any], kind: str, sub_resource: str,
                       username: str) -> list[str]:
    """What an update may not touch: any label (labels select Services and NetworkPolicies, so each one can open
    or close a door), Jupyternetes' own annotations, owner references (only the garbage collector removes them),
    finalizers (only the control plane's), and the content: a pod's spec, a PVC's spec but for binding to a volume,
    a Service's spec, a Secret's or ConfigMap's data. Ephemeral containers and in-place
    resizes are changes to the spec. (The same rules as the admission policy jupyternetes-objects-belong-to-the-
    operator.)"""
    if sub_resource:
        return [f"{sub_resource} (subresource)"]
    changes = []
    old_meta, new_meta = _mapping(old.get("metadata")), _mapping(new.get("metadata"))
    for field_name in ("labels", "annotations"):
        old_values = _mapping(old_meta.get(field_name))
        new_values = _mapping(new_meta.get(field_name))
        for key in set(old_values) | set(new_values):
            ours = field_name == "labels" or str(key).startswith(constants.LABEL_PREFIX)
            if ours and old_values.get(key) != new_values.get(key):
                changes.append(f"metadata.{field_name}[{key!r}]")
    old_refs = [r for r in old_meta.get("ownerReferences") or [] if isinstance(r, Mapping)]
    new_refs = list(new_meta.get("ownerReferences") or [])
    for ref in new_refs:
        if not isinstance(ref, Mapping) or not any(dict(ref) == dict(o) for o in old_refs):
            changes.append("metadata.ownerReferences")
            break
    else:
        if len(new_refs) < len(old_refs) and username not in _COLLECTORS:
            changes.append("metadata.ownerReferences (only the garbage collector removes owners)")
    if sorted(map(str, old_meta.get("finalizers") or [])) != sorted(map(str, new_meta.get("finalizers") or [])) \
            and not _control_plane(username):
        changes.append("metadata.finalizers")
    if kind == "PersistentVolumeClaim":
        old_spec, new_spec = _mapping(old.get("spec")), _mapping(new.get("spec"))
        for key in sorted(set(old_spec) | set(new_spec)):
            binding = key in _PVC_BINDING_FIELDS and old_spec.get(key) in (None, "") and _control_plane(username)
            if not binding and old_spec.get(key) != new_spec.get(key):
                changes.append(f"spec.{key}")
    else:
        for key in ("spec", "data", "binaryData", "type", "immutable"):
            if old.get(key) != new.get(key):
                changes.append(key)
    return changes
