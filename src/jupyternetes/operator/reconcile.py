"""Reconcile one instance: render its template, create what is missing, and report status and Events.

Level-triggered and idempotent. Every generated object has a deterministic name, so creating twice is impossible (the
API server answers 409) and a restarted operator finds what it made before. All checks that can refuse an instance
(template namespace, missing template, render errors, kinds not on the allowlist) run before anything is created, so
a refused instance leaves nothing half-made behind.

Every object the instance depends on is observed, never assumed. Pods and PVCs come from watch caches, which see a
deletion as it happens. The instance's Secret and other resources are not watched (the operator may not list or
watch Secrets), so every pass reads them by name: any event of the instance or its pods, and every resync, notices
one that is gone. A missing one is made again, and the pods wait for it.

Ownership is proven, not read from labels: an object is the instance's only when its controller ownerReference
carries the instance's uid. A kept workspace PVC (no owner) is reused only when it carries Jupyternetes' labels for
this instance and entry, which the admission policy lets nobody but the operator set. Anything else that holds a
generated name is a `NameConflict`, never adopted.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jupyternetes import constants, kube, models, render, sealing
from jupyternetes.models import STATE_DENIED, STATE_ERROR, STATE_WAITING
from jupyternetes.operator import events, metrics
from jupyternetes.operator import status as status_mod
from jupyternetes.operator.cache import Cache, InstanceKey
from jupyternetes.operator.settings import OperatorSettings
from jupyternetes.operator.status import Outcome, Problem

logger = logging.getLogger(__name__)


@dataclass
class Result:
    """What the work queue should do next with this instance."""

    retry: bool = False
    requeue_after: float | None = None


#: Kinds the operator watches: the cache sees their deletion. Everything else is read by name (see the docstring).
WATCHED_KINDS: Final = frozenset({"Pod", "PersistentVolumeClaim"})


@dataclass
class _Pass:
    """Everything one reconcile pass observed, did and decided."""

    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    problem: Problem | None = None
    requeue_after: float | None = None
    secret: render.RenderedObject | None = None
    #: The template version the instance is rendered from (status.template), and why the template as it is now is
    #: another version ("" if it is the same).
    template: dict[str, Any] = field(default_factory=dict)
    template_changed: str = ""
    #: What this pass made or took over, by Event reason (Created, Recreated, Reused): one Event each, naming them all.
    made: dict[str, list[str]] = field(default_factory=dict)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_reference(instance: Mapping[str, Any]) -> dict[str, Any]:
    meta = instance["metadata"]
    return {"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND, "name": meta["name"],
            "uid": meta["uid"], "controller": True}


def controller_reference(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object's controller ownerReference, if it has one."""
    refs = (body.get("metadata") or {}).get("ownerReferences") or []
    return next((dict(ref) for ref in refs if isinstance(ref, dict) and ref.get("controller")), None)


def controller_uid(body: Mapping[str, Any]) -> str | None:
    owner = controller_reference(body)
    return str(owner.get("uid")) if owner is not None else None


def kept_workspace(existing: Mapping[str, Any], rendered: render.RenderedObject) -> bool:
    """A workspace PVC that Jupyternetes made for this instance name and entry and kept beyond an earlier instance
    (perhaps from another template): no owner at all, and the labels and annotation that name the instance and
    entry. Only the operator can create an object with these labels, and nobody can add them later, by the object
    or its status (the admission policy refuses anyone else), so they prove who made it."""
    meta = existing.get("metadata") or {}
    if meta.get("ownerReferences"):
        return False
    expected = rendered.manifest["metadata"]
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return (all(labels.get(key) == expected["labels"][key] for key in constants.INSTANCE_LABELS)
            and annotations.get(constants.ANNOTATION_INSTANCE_NAME)
            == expected["annotations"][constants.ANNOTATION_INSTANCE_NAME])


def made_for(existing: Mapping[str, Any], instance: Mapping[str, Any]) -> bool:
    """Whether `existing` (already proven to be this instance's, `_belongs`) is controlled by this very instance:
    then it was made for it, not kept from an earlier instance of the same name, even if the status does not list it
    yet (an operator restarted before writing it). A kept workspace has no owner, so it cannot say which instance it
    was made for; it is "reused" whenever the status does not list it."""
    return controller_uid(existing) == (instance.get("metadata") or {}).get("uid")


def classify(error: kube.ApiError) -> tuple[str, bool]:
    """(condition reason, whether retrying can help) for an error from creating an object."""
    message = error.message
    if ("admission webhook" in message and error.status >= 500) or "failed calling webhook" in message:
        # The webhook could not be reached, or could not decide (its policy engine did not answer: 503).
        return status_mod.REASON_WEBHOOK_UNAVAILABLE, True
    if ("admission webhook" in message and "denied the request" in message) or (
            "ValidatingAdmissionPolicy" in message and "denied request" in message):
        return status_mod.REASON_DENIED, False
    if error.status == 403 and "exceeded quota" in message:
        return status_mod.REASON_QUOTA, True
    if error.status in (400, 422):
        return status_mod.REASON_INVALID, False
    return status_mod.REASON_API_ERROR, True


#: Degraded reasons whose Warning Event carries the same reason; any other is a plain `Failed`.
_EVENT_REASONS = frozenset({
    status_mod.REASON_DENIED, status_mod.REASON_QUOTA, status_mod.REASON_TEMPLATE_NOT_FOUND,
    status_mod.REASON_TEMPLATE_NOT_ALLOWED, status_mod.REASON_RENDER_FAILED, status_mod.REASON_KIND_NOT_ALLOWED,
    status_mod.REASON_CONFLICT, status_mod.REASON_POD_FAILED, status_mod.REASON_SEALED,
    status_mod.REASON_TEMPLATE_CHANGED,
})


class Reconciler:
    def __init__(self, api: kube.AsyncKube, settings: OperatorSettings, cache: Cache,
                 recorder: events.Recorder) -> None:
        self.api = api
        self.settings = settings
        self.cache = cache
        self.recorder = recorder
        self.sealing_key = sealing.read_private_key(settings.sealing_key_file) if settings.sealing_key_file else None
        #: Instances whose status change is held back (see `status_settle_seconds`): since when, for which uid, and
        #: the status not yet written, which the next passes take as what they reported last.
        self._held: dict[InstanceKey, tuple[float, str, dict[str, Any]]] = {}
        #: Progress writes made for each instance (uid) since its last write that could not wait; after the first,
        #: progress waits longer (`status.hold_seconds`).
        self._progress_written: dict[InstanceKey, tuple[str, int]] = {}

    async def reconcile(self, key: InstanceKey) -> Result:
        started = time.monotonic()
        outcome = "error"
        try:
            result = await self._reconcile(key)
            outcome = "retry" if result.retry else ("requeue" if result.requeue_after else "done")
            return result
        finally:
            metrics.RECONCILES.labels(outcome).inc()
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)

    async def _reconcile(self, key: InstanceKey) -> Result:
        body = self.cache.instances.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            # Gone or going: the garbage collector removes what the instance owns; nothing to do.
            self._held.pop(key, None)
            self._progress_written.pop(key, None)
            return Result()
        work = _Pass()
        manifests = await self._plan(body, work)
        if manifests is not None and work.problem is None:
            try:
                await self._act(body, manifests, work)
            except Exception:
                self._record_made(body, work)  # what was made before the error still gets its Event
                raise
        await self._report(body, manifests, work)
        if work.problem is not None:
            metrics.ERRORS.labels(work.problem.reason).inc()
            return Result(retry=work.problem.retrying)
        return Result(requeue_after=work.requeue_after)

    # Planning: every check that can refuse the instance, before anything is created -----------------------------

    async def _get_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body = await self.api.get(kube.TEMPLATE, name, namespace)
        except kube.NotFound:
            return None
        except kube.ApiError as error:
            logger.warning("could not read template %s/%s: %s", namespace, name, error)
            return None
        self.cache.put_template(body)
        return body

    def _held_for(self, body: Mapping[str, Any]) -> tuple[float, str, dict[str, Any]] | None:
        """The status held back for this very instance (not an earlier one of the same name), if any."""
        held = self._held.get((body["metadata"]["namespace"], body["metadata"]["name"]))
        return held if held is not None and held[1] == body["metadata"].get("uid") else None

    def _reported(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The status this operator last reported for the instance: the one held back to be written with the next
        change, if any, else the one stored."""
        held = self._held_for(body)
        return held[2] if held is not None else status_mod.current(body)

    async def _plan(self, body: dict[str, Any], work: _Pass) -> render.Manifests | None:
        namespace = body["metadata"]["namespace"]
        work.template = dict(self._reported(body).get("template") or {})
        try:
            instance = models.parse_instance(body)
        except models.InvalidObjectError as error:
            work.problem = Problem(status_mod.REASON_INVALID, str(error), retrying=False)
            return None
        ref = instance.spec.template
        template_namespace = ref.namespace or namespace
        if not self.settings.template_namespace_allowed(namespace, template_namespace):
            allowed = " or ".join(repr(ns) for ns in dict.fromkeys([namespace, self.settings.template_namespace]) if ns)
            work.problem = Problem(
                status_mod.REASON_TEMPLATE_NOT_ALLOWED,
                f"instances in namespace {namespace!r} may not use templates from namespace {template_namespace!r}; "
                f"use a template in {allowed}",
                retrying=False,
            )
            return None
        template_body = self.cache.templates.get((template_namespace, ref.name))
        if template_body is None:
            # The template watch may not have delivered it yet (just after start-up): ask once before saying no.
            template_body = await self._get_template(template_namespace, ref.name)
        if template_body is None:
            work.problem = Problem(
                status_mod.REASON_TEMPLATE_NOT_FOUND,
                f"template {ref.name!r} does not exist in namespace {template_namespace!r}; "
                "the instance will be provisioned when it appears",
                retrying=False,
            )
            return None
        work.template = status_mod.rendered_from(self._reported(body), template_body)
        work.template_changed = status_mod.template_changed(work.template, template_body)
        try:
            template = models.parse_template(template_body)
            manifests = render.render(template, instance)
        except (models.InvalidObjectError, render.RenderError) as error:
            work.problem = Problem(status_mod.REASON_RENDER_FAILED,
                                   f"cannot render template {template_namespace}/{ref.name}: {error}", retrying=False)
            return None
        refused = [o for o in manifests.others if f"{o.api_version}/{o.kind}" not in self.settings.allowed_kinds]
        if refused:
            kinds = ", ".join(sorted({f"{o.api_version}/{o.kind}" for o in refused}))
            work.problem = Problem(
                status_mod.REASON_KIND_NOT_ALLOWED,
                f"the template asks for {kinds}, which the operator is not allowed to create; an admin can add it "
                "to the operator's allowedKinds (and its RBAC)",
                retrying=False,
            )
            return manifests
        return manifests

    # Acting: create what is missing, in order -----------------------------------------------------------------------

    def _secret(self, instance: dict[str, Any], work: _Pass) -> render.RenderedObject | None:
        """The instance's Secret with its sealed variables opened, or None (and a problem if they do not open)."""
        model = models.parse_instance(instance)
        opened: dict[str, str] = {}
        if model.spec.sealed_variables:
            if self.sealing_key is None:
                work.problem = Problem(status_mod.REASON_SEALED, "the instance has sealed variables, but the "
                                       "operator has no sealing key (settings: sealing_key_file)", retrying=False)
                return None
            try:
                opened = sealing.open_instance(self.sealing_key, model)
            except sealing.SealingError as error:
                work.problem = Problem(status_mod.REASON_SEALED, str(error), retrying=False)
                return None
        manifest = render.instance_secret(model, opened)
        if manifest is None:
            return None
        return render.RenderedObject(constants.ENTRY_SECRET, constants.SECRET_ENTRY, manifest)

    async def _act(self, instance: dict[str, Any], manifests: render.Manifests, work: _Pass) -> None:
        previous = self._reported(instance)
        keep_pvcs = self.settings.pvc_retention == "keep"
        work.secret = self._secret(instance, work)
        if work.problem is not None:
            return
        needed: list[render.RenderedObject] = []
        if work.secret is not None:
            # Pods read it through secretKeyRef or envFrom: it must exist before them.
            previous_secret = {constants.SECRET_ENTRY: previous["secret"]} if previous.get("secret") else {}
            await self._ensure(instance, work.secret, owned=True, previous=previous_secret, work=work)
            needed.append(work.secret)
            if work.problem is not None:
                return
        for pvc in manifests.pvcs:
            await self._ensure(instance, pvc, owned=not keep_pvcs, previous=previous.get("pvcs", {}), work=work)
        if work.problem is not None:
            return
        missing = [o for o in (*needed, *manifests.pvcs)
                   if work.outcomes.get(o.name, Outcome("")).state == STATE_WAITING]
        if missing:
            # Pods mount the PVCs and read the Secret: they wait until each exists, is theirs and is not going away.
            what = ", ".join(f"{o.kind} {o.name}" for o in missing)
            for pod in manifests.pods:
                if self.cache.get_object(pod.kind, instance["metadata"]["namespace"], pod.name) is None:
                    work.outcomes[pod.name] = Outcome(STATE_WAITING, f"waiting for {what}")
                    continue
                await self._ensure(instance, pod, owned=True, previous=previous.get("pods", {}), work=work)
            return
        for pod in manifests.pods:
            await self._ensure(instance, pod, owned=True, previous=previous.get("pods", {}), work=work)
        for other in manifests.others:
            await self._ensure(instance, other, owned=True, previous=previous.get("otherResources", {}), work=work)

    async def _observe(self, instance: dict[str, Any], rendered: render.RenderedObject) -> dict[str, Any] | None:
        """The object as it is now: from the watch cache for watched kinds (the watch sees a deletion as it
        happens); read by name for the others, in every pass, since nothing would tell the cache they are gone."""
        namespace = instance["metadata"]["namespace"]
        if rendered.kind in WATCHED_KINDS:
            return self.cache.get_object(rendered.kind, namespace, rendered.name)
        return await self._get(rendered, namespace)

    async def _ensure(self, instance: dict[str, Any], rendered: render.RenderedObject, *, owned: bool,
                      previous: Mapping[str, Any], work: _Pass) -> None:
        meta = instance["metadata"]
        namespace = meta["namespace"]
        try:
            existing = await self._observe(instance, rendered)
        except kube.ApiError as error:
            self._failed(instance, rendered, error, work, verb="reading")
            return
        created = False
        if existing is None and work.template_changed:
            # A running server is never rebuilt from another version of its template (half old, half new).
            message = (f"{rendered.kind} {rendered.name} is missing, and {work.template_changed}; a running server "
                       "is never rebuilt from another version of its template: stop the server and start it again "
                       "to use the new version")
            work.outcomes[rendered.name] = Outcome(STATE_ERROR, message)
            if work.problem is None:
                work.problem = Problem(status_mod.REASON_TEMPLATE_CHANGED, message, retrying=False)
            return
        if existing is None:
            manifest = dict(rendered.manifest)
            if owned:
                manifest["metadata"] = {**manifest["metadata"], "ownerReferences": [owner_reference(instance)]}
            try:
                existing = await self.api.create(manifest)
                created = True
                self.recorder.provisioned(instance, manifest, created=existing)
            except kube.Conflict:
                existing = await self._get(rendered, namespace)
            except kube.ApiError as error:
                self.recorder.provisioned(instance, manifest, error=error)
                self._failed(instance, rendered, error, work)
                return
            if existing is None:
                work.outcomes[rendered.name] = Outcome(STATE_WAITING, "created but not yet visible; looking again")
                work.requeue_after = self.settings.waiting_requeue_seconds
                return
            if rendered.kind in WATCHED_KINDS:
                self.cache.put_object(existing)
        if not self._belongs(instance, rendered, existing, work):
            return
        work.observed[rendered.name] = existing
        noun = f"{rendered.kind} {rendered.name} (template entry {rendered.entry_name!r})"
        if rendered.entry_kind == constants.ENTRY_SECRET:
            noun = f"Secret {rendered.name} with the instance's sealed variables and hub environment"
        was = (previous.get(rendered.entry_name) or {}).get("state")
        if created and was in (None, models.STATE_PENDING):
            work.made.setdefault(events.CREATED, []).append(noun)
        elif created:
            work.made.setdefault(events.RECREATED, []).append(noun)
        elif was is None and rendered.entry_kind == constants.ENTRY_PVC and not made_for(existing, instance):
            work.made.setdefault(events.REUSED, []).append(noun)

    async def _get(self, rendered: render.RenderedObject, namespace: str) -> dict[str, Any] | None:
        rt = await self.api.resource(rendered.api_version, rendered.kind)
        try:
            body = await self.api.get(rt, rendered.name, namespace)
        except kube.NotFound:
            return None
        return {"kind": rendered.kind, **body}

    def _belongs(self, instance: dict[str, Any], rendered: render.RenderedObject, existing: dict[str, Any],
                 work: _Pass) -> bool:
        """Whether `existing` is provably this instance's object; records why not (a conflict, or an earlier
        instance's object that the garbage collector is removing)."""
        meta = existing.get("metadata") or {}
        name, namespace = instance["metadata"]["name"], instance["metadata"]["namespace"]
        owner = controller_reference(existing)
        if owner is not None and owner.get("uid") == instance["metadata"]["uid"]:
            made_for = ((meta.get("labels") or {}).get(constants.LABEL_ENTRY),
                        (meta.get("annotations") or {}).get(constants.ANNOTATION_INSTANCE_NAME))
            if made_for == (rendered.entry_name, name) and not meta.get("deletionTimestamp"):
                return True
        if meta.get("deletionTimestamp"):
            work.outcomes[rendered.name] = Outcome(STATE_WAITING, f"the previous {rendered.kind} is being deleted")
            work.requeue_after = self.settings.waiting_requeue_seconds
            return False
        if (owner is not None and owner.get("name") == name and owner.get("kind") == constants.INSTANCE_KIND
                and owner.get("apiVersion") == constants.API_VERSION):
            work.outcomes[rendered.name] = Outcome(
                STATE_WAITING, f"the {rendered.kind} of an earlier instance named {name!r} is still being removed")
            work.requeue_after = self.settings.waiting_requeue_seconds
            return False
        if rendered.entry_kind == constants.ENTRY_PVC and kept_workspace(existing, rendered):
            return True
        whose = (f"it is controlled by {owner.get('kind')} {owner.get('name')} (uid {owner.get('uid')})"
                 if owner is not None else "it has no owner reference to this instance")
        message = (f"{rendered.kind} {namespace}/{rendered.name} already exists and was not made by Jupyternetes "
                   f"for this instance's entry {rendered.entry_name!r} ({whose}); Jupyternetes will not use it. "
                   "Delete or rename it, and the operator makes its own")
        work.outcomes[rendered.name] = Outcome(STATE_ERROR, message)
        work.problem = Problem(status_mod.REASON_CONFLICT, message, retrying=True)
        return False

    def _failed(self, instance: dict[str, Any], rendered: render.RenderedObject, error: kube.ApiError,
                work: _Pass, verb: str = "creating") -> None:
        reason, retrying = classify(error) if verb == "creating" else (status_mod.REASON_API_ERROR, True)
        state = STATE_DENIED if reason == status_mod.REASON_DENIED else STATE_ERROR
        work.outcomes[rendered.name] = Outcome(state, error.message)
        if work.problem is None:
            work.problem = Problem(reason, f"{verb} {rendered.kind} {rendered.name}: {error.message}", retrying)
        logger.warning("%s/%s: %s %s %s failed (%s): %s", instance["metadata"]["namespace"],
                       instance["metadata"]["name"], verb, rendered.kind, rendered.name, error.status, error.message)

    # Reporting: status and the Events for what changed --------------------------------------------------------------

    async def _report(self, instance: dict[str, Any], manifests: render.Manifests | None, work: _Pass) -> None:
        previous = status_mod.current(instance)
        new = status_mod.build(
            generation=instance["metadata"].get("generation"),
            manifests=manifests,
            secret=work.secret,
            observed=work.observed,
            outcomes=work.outcomes,
            problem=work.problem,
            previous=previous,
            now=_now(),
            template=work.template,
        )
        if any(s.get("state") == STATE_WAITING for s in status_mod.states(new)):
            work.requeue_after = work.requeue_after or self.settings.waiting_requeue_seconds
        self._record_made(instance, work)
        key = (instance["metadata"]["namespace"], instance["metadata"]["name"])
        if new == previous:
            self._held.pop(key, None)
            return
        uid = instance["metadata"]["uid"]
        written = self._progress_written.get(key)
        progress_written = written[1] if written is not None and written[0] == uid else 0
        progress = self.settings.status_settle_seconds > 0 and status_mod.can_wait(previous, new)
        if progress:
            # Progress on the way to Ready waits a moment, so that it is written together with what comes next
            # (in a storm, usually Ready itself): one status write per start instead of two, and after the first,
            # progress waits longer still.
            held = self._held_for(instance)
            held_since = held[0] if held is not None else time.monotonic()
            self._held[key] = (held_since, uid, new)
            left = (status_mod.hold_seconds(self.settings.status_settle_seconds, progress_written)
                    - (time.monotonic() - held_since))
            if left > 0:
                work.requeue_after = min(work.requeue_after or left, left)
                return
        self._held.pop(key, None)
        self._transition_events(instance, previous, new)
        try:
            # The uid test keeps a status computed for an instance from landing on a newer one of the same name
            # (deleted and created again while this pass ran): the API server refuses the whole patch.
            updated = await self.api.patch(kube.INSTANCE, instance["metadata"]["name"],
                                           [{"op": "test", "path": "/metadata/uid",
                                             "value": instance["metadata"]["uid"]},
                                            {"op": "add", "path": "/status", "value": new}],
                                           instance["metadata"]["namespace"], content_type=kube.JSON_PATCH,
                                           subresource="status")
        except kube.NotFound:
            return
        except kube.ApiError as error:
            if error.status == 422 and await self._replaced(instance):
                logger.info("%s/%s was replaced by a newer instance of the same name; its status is left to the "
                            "next pass", instance["metadata"]["namespace"], instance["metadata"]["name"])
                work.requeue_after = work.requeue_after or self.settings.waiting_requeue_seconds
                return
            logger.warning("could not write status of %s/%s: %s", instance["metadata"]["namespace"],
                           instance["metadata"]["name"], error)
            if work.problem is None:
                work.problem = Problem(status_mod.REASON_API_ERROR, f"writing status: {error.message}", True)
            return
        # Counted once written: a progress write that failed does not make the next one wait longer.
        if progress:
            self._progress_written[key] = (uid, progress_written + 1)
        else:
            self._progress_written.pop(key, None)
        self.cache.put_instance_if_newer(updated)

    def _record_made(self, instance: dict[str, Any], work: _Pass) -> None:
        """One Event per pass and reason, naming every object made (one request, where one each made a storm twice
        as heavy); each object also has its own provisioning record (docs/audit.md)."""
        for reason, nouns in work.made.items():
            self.recorder.normal(instance, reason, events.made_message(reason, nouns))
        work.made.clear()

    async def _replaced(self, instance: dict[str, Any]) -> bool:
        """Whether `instance` is gone or another object now has its name (the API server names neither when a
        JSON patch's uid test fails, so ask)."""
        meta = instance["metadata"]
        try:
            current = await self.api.get(kube.INSTANCE, meta["name"], meta["namespace"])
        except kube.NotFound:
            return True
        return bool(current["metadata"].get("uid") != meta["uid"])

    def _transition_events(self, instance: dict[str, Any], previous: Mapping[str, Any],
                           new: Mapping[str, Any]) -> None:
        old = {c["type"]: c for c in previous.get("conditions") or []}
        now = {c["type"]: c for c in new["conditions"]}
        ready, degraded = now[models.CONDITION_READY], now[models.CONDITION_DEGRADED]
        old_ready = old.get(models.CONDITION_READY, {})
        old_degraded = old.get(models.CONDITION_DEGRADED, {})
        if ready["status"] == "True" and old_ready.get("status") != "True":
            self.recorder.normal(instance, events.READY, ready["message"])
        if degraded["status"] == "True" and (
            old_degraded.get("status") != "True" or old_degraded.get("reason") != degraded["reason"]
            or old_degraded.get("message") != degraded["message"]
        ):
            reason = degraded["reason"] if degraded["reason"] in _EVENT_REASONS else events.FAILED
            self.recorder.warning(instance, reason, degraded["message"])
        if (ready["reason"] == status_mod.REASON_WAITING and ready["status"] == "False"
                and (old_ready.get("reason"), old_ready.get("message")) != (ready["reason"], ready["message"])):
            self.recorder.normal(instance, events.WAITING, ready["message"])
        if ready["reason"] == status_mod.REASON_POD_SUCCEEDED and old_ready.get("reason") != ready["reason"]:
            self.recorder.normal(instance, events.POD_SUCCEEDED, ready["message"])

