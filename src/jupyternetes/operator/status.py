"""Pure computation of an instance's status from what the operator observed and decided. No API calls.

The status is what the spawner and people rely on: per rendered object its name, state and error message (for pods
also phase, IP and port), the instance's own Secret when it has one, summaries per kind, and three conditions: Ready,
Progressing and Degraded. Ready is True only when every pod runs and everything the pods need (PVCs, the Secret,
other resources) was observed in place by the same pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from jupyternetes import constants, models, sessions
# Condition reasons are defined with the models, shared with the spawner; re-exported here for the operator.
from jupyternetes.models import (  # noqa: F401
    REASON_READY,  # noqa: F401
    REASON_PROVISIONING,  # noqa: F401
    REASON_WAITING,  # noqa: F401
    REASON_AS_EXPECTED,  # noqa: F401
    REASON_POD_FAILED,  # noqa: F401
    REASON_POD_SUCCEEDED,  # noqa: F401
    REASON_TEMPLATE_NOT_FOUND,  # noqa: F401
    REASON_TEMPLATE_NOT_ALLOWED,  # noqa: F401
    REASON_RENDER_FAILED,  # noqa: F401
    REASON_KIND_NOT_ALLOWED,  # noqa: F401
    REASON_DENIED,  # noqa: F401
    REASON_WEBHOOK_UNAVAILABLE,  # noqa: F401
    REASON_QUOTA,  # noqa: F401
    REASON_INVALID,  # noqa: F401
    REASON_CONFLICT,  # noqa: F401
    REASON_API_ERROR,  # noqa: F401
    REASON_SEALED,  # noqa: F401
    REASON_TEMPLATE_CHANGED,  # noqa: F401
    REASON_CLAIM_LOST,  # noqa: F401
)
from jupyternetes.models import (
    CONDITION_DEGRADED,
    CONDITION_PROGRESSING,
    CONDITION_READY,
    STATE_DENIED,
    STATE_ERROR,
    STATE_FAILED,
    STATE_PENDING,
    STATE_PROVISIONED,
    STATE_RUNNING,
    STATE_SUCCEEDED,
    STATE_WAITING,
)
from jupyternetes.render import Manifests, RenderedObject



@dataclass(frozen=True)
class Problem:
    """Why an instance cannot (yet) be what its template says. `retrying` says whether the operator tries again."""

    reason: str
    message: str
    retrying: bool


@dataclass(frozen=True)
class Outcome:
    """What happened to one rendered object in this reconcile, when it is not simply 'exists'."""

    state: str
    message: str | None = None


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return status.get("phase") == "Running" and bool(status.get("podIP")) and ready


def _unobserved(state: dict[str, Any], body: Mapping[str, Any] | None, outcome: Outcome | None) -> bool:
    """Fill in `state` where the object itself cannot say: the outcome of this pass wins when the object is missing
    or the pass refused, failed or is waiting; a missing object with no outcome is pending. True when filled in."""
    if outcome is not None and (body is None or outcome.state in (STATE_DENIED, STATE_ERROR, STATE_WAITING)):
        state["state"] = outcome.state
        if outcome.message:
            state["errorMessage"] = outcome.message
        return True
    if body is None:
        state["state"] = STATE_PENDING
        return True
    return False


def pod_state(rendered: RenderedObject, pod: Mapping[str, Any] | None, outcome: Outcome | None) -> dict[str, Any]:
    state: dict[str, Any] = {"resourceName": rendered.name}
    if _unobserved(state, pod, outcome) or pod is None:
        return state
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    state["phase"] = phase
    if status.get("podIP"):
        # An address is the IP and the port together: the port is reported only once there is an IP.
        state["podIP"] = status["podIP"]
        port = models.http_port(pod.get("spec") or {})
        if port is not None:
            state["port"] = port
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        state["state"] = STATE_WAITING
        state["errorMessage"] = "the pod is being deleted"
    elif phase == "Failed" and status.get("reason") == sessions.DEADLINE_EXCEEDED:
        # The kubelet stopped it at its activeDeadlineSeconds: the session limit, which the hub tells the user.
        state["state"] = STATE_FAILED
        state["reason"] = sessions.DEADLINE_EXCEEDED
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        limit = f" of {sessions.describe(deadline)}" if isinstance(deadline, int) else ""
        state["errorMessage"] = f"{sessions.DEADLINE_EXCEEDED}: the server reached its session limit{limit}"
    elif phase == "Failed":
        state["state"] = STATE_FAILED
        stopped = _container_problem(status)
        state["reason"] = status.get("reason") or (stopped[0] if stopped else "Failed")
        state["errorMessage"] = status.get("message") or (stopped[1] if stopped else "") or status.get("reason") \
            or "the pod failed"
    elif phase == "Succeeded":
        state["state"] = STATE_SUCCEEDED
    elif _pod_ready(pod):
        state["state"] = STATE_RUNNING
    else:
        state["state"] = STATE_PROVISIONED
        unscheduled = next((c for c in status.get("conditions") or []
                            if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
        problem = _container_problem(status)
        if problem is not None:
            # The hub cannot read pods or Events: the kubelet's words reach the user only through here.
            state["reason"], state["errorMessage"] = problem
        elif unscheduled is not None:
            state["reason"] = unscheduled.get("reason") or "Unschedulable"
            state["errorMessage"] = ("no node can take the pod yet: "
                                     f"{unscheduled.get('message') or unscheduled.get('reason') or 'unschedulable'}")
    return state


#: Container states that are simply on their way (nothing for the user to hear about).
_STARTING: Final = frozenset({"ContainerCreating", "PodInitializing"})


def _container_problem(status: Mapping[str, Any]) -> tuple[str, str] | None:
    """(reason, message) for the first container that is not starting normally, in the kubelet's words: waiting for
    a reason other than being created (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError),
    with its last exit when it restarts (OOMKilled, exit code 1), or stopped with an error."""
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
            last = (container.get("lastState") or {}).get("terminated") or {}
            name = container.get("name", "?")
            if waiting.get("reason") and waiting["reason"] not in _STARTING:
                exited = (f"; it last exited with code {last.get('exitCode')} ({last.get('reason') or 'Error'})"
                          if last else "")
                reason = "OOMKilled" if last.get("reason") == "OOMKilled" else waiting["reason"]
                return reason, (f"container {name}: {waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
                                + exited)
            if terminated and terminated.get("exitCode", 0) != 0:
                return (terminated.get("reason") or "Error",
                        f"container {name} exited with code {terminated.get('exitCode')} "
                        f"({terminated.get('reason') or 'Error'})"
                        + (f": {terminated['message']}" if terminated.get("message") else ""))
    return None


def object_state(rendered: RenderedObject, body: Mapping[str, Any] | None, outcome: Outcome | None
                 ) -> dict[str, Any]:
    """State of a PVC or another resource."""
    state: dict[str, Any] = {"resourceName": rendered.name}
    if rendered.entry_kind == constants.ENTRY_OTHER:
        state["apiVersion"] = rendered.api_version
        state["kind"] = rendered.kind
    if _unobserved(state, body, outcome) or body is None:
        return state
    phase = (body.get("status") or {}).get("phase")
    if phase:
        state["phase"] = phase
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        state["state"] = STATE_WAITING
        state["errorMessage"] = "the object is being deleted"
    elif rendered.entry_kind == constants.ENTRY_PVC and phase == CLAIM_LOST:
        # Its volume is gone (deleted, or its storage lost it): the files are not there and waiting will not help.
        state["state"] = STATE_FAILED
        state["reason"] = REASON_CLAIM_LOST
        volume = (body.get("spec") or {}).get("volumeName")
        state["errorMessage"] = (f"the claim lost its volume{f' {volume}' if volume else ''}, which no longer "
                                 "exists; an administrator must restore the volume or delete the claim")
    else:
        state["state"] = STATE_PROVISIONED
        if rendered.entry_kind == constants.ENTRY_PVC and phase == CLAIM_PENDING:
            # Normal for a moment, or until the pod is scheduled (WaitForFirstConsumer); the pod's scheduling
            # message says more when it lasts. The hub cannot read the claim or its Events, so say it here.
            state["reason"] = CLAIM_PENDING
            storage_class = (body.get("spec") or {}).get("storageClassName")
            state["errorMessage"] = ("the claim is waiting for a volume"
                                     + (f" of storage class {storage_class!r}" if storage_class else "")
                                     + " (until one is provisioned, or the pod is scheduled)")
    return state


#: A PersistentVolumeClaim's phases (core/v1): not bound yet, and bound to a volume that is gone.
CLAIM_PENDING: Final = "Pending"
CLAIM_LOST: Final = "Lost"


def _summary(states: list[str], ok: str) -> str:
    if not states or all(s == ok for s in states):
        return ok
    for bad in (STATE_DENIED, STATE_ERROR, STATE_FAILED):
        if bad in states:
            return STATE_FAILED
    return STATE_PENDING


def _pods_summary(states: list[str]) -> str:
    if any(s in (STATE_DENIED, STATE_ERROR, STATE_FAILED) for s in states):
        return STATE_FAILED
    if states and all(s == STATE_SUCCEEDED for s in states):
        return STATE_SUCCEEDED
    if all(s == STATE_RUNNING for s in states):
        return STATE_RUNNING
    if any(s in (STATE_PENDING, STATE_WAITING) for s in states):
        return STATE_PENDING
    return STATE_PROVISIONED


def _condition(type_: str, true: bool, reason: str, message: str, generation: int | None,
               previous: Mapping[str, Any] | None, now: str) -> dict[str, Any]:
    status = "True" if true else "False"
    transition = now
    if previous and previous.get("status") == status and previous.get("lastTransitionTime"):
        transition = previous["lastTransitionTime"]
    condition: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message,
                                 "lastTransitionTime": transition}
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def states(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every per-object state in a status: pods, PVCs, other resources and the Secret."""
    found = [s for kind in ("pods", "pvcs", "otherResources") for s in (status.get(kind) or {}).values()]
    return found + ([status["secret"]] if status.get("secret") else [])


def build(
    *,
    generation: int | None,
    manifests: Manifests | None,
    secret: RenderedObject | None = None,
    observed: Mapping[str, Mapping[str, Any]],
    outcomes: Mapping[str, Outcome],
    problem: Problem | None,
    previous: Mapping[str, Any] | None,
    now: str,
    template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The instance's whole status.

    `observed` and `outcomes` are keyed by generated object name; `previous` is the status as it is now, used to keep
    condition transition times stable (so an unchanged status is byte-for-byte unchanged and not written again).
    `template` is the template version the instance is rendered from (see `rendered_from`).
    """
    previous = previous or {}
    status: dict[str, Any] = {"pods": {}, "pvcs": {}, "otherResources": {}}
    if template:
        status["template"] = dict(template)
    if secret is not None:
        status["secret"] = object_state(secret, observed.get(secret.name), outcomes.get(secret.name))
    if manifests is not None:
        for pvc in manifests.pvcs:
            status["pvcs"][pvc.entry_name] = object_state(pvc, observed.get(pvc.name), outcomes.get(pvc.name))
        for pod in manifests.pods:
            status["pods"][pod.entry_name] = pod_state(pod, observed.get(pod.name), outcomes.get(pod.name))
        for other in manifests.others:
            status["otherResources"][other.entry_name] = object_state(
                other, observed.get(other.name), outcomes.get(other.name))

    pvc_states = [s["state"] for s in status["pvcs"].values()]
    pod_states = [s["state"] for s in status["pods"].values()]
    status["pvcsProvisioned"] = _summary(pvc_states, STATE_PROVISIONED) if manifests else STATE_PENDING
    status["podsProvisioned"] = _pods_summary(pod_states) if manifests else STATE_PENDING
    by_kind: dict[str, list[str]] = {}
    for state in status["otherResources"].values():
        by_kind.setdefault(state["kind"], []).append(state["state"])
    status["otherResourcesProvisioned"] = {kind: _summary(states, STATE_PROVISIONED)
                                           for kind, states in sorted(by_kind.items())}

    failed_pod = next((s for s in status["pods"].values() if s["state"] == STATE_FAILED), None)
    lost_claim = next((s for s in status["pvcs"].values() if s.get("reason") == REASON_CLAIM_LOST), None)
    succeeded = bool(pod_states) and all(s == STATE_SUCCEEDED for s in pod_states)
    secret_state = (status.get("secret") or {}).get("state", STATE_PROVISIONED)
    ready = (manifests is not None and problem is None and all(s == STATE_RUNNING for s in pod_states)
             and status["pvcsProvisioned"] == STATE_PROVISIONED and secret_state == STATE_PROVISIONED
             and all(s == STATE_PROVISIONED for states in by_kind.values() for s in states))

    if problem is not None:
        ready_reason, ready_message = problem.reason, problem.message
    elif failed_pod is not None:
        ready_reason = REASON_POD_FAILED
        ready_message = f"pod {failed_pod['resourceName']} failed: {failed_pod.get('errorMessage', '')}".rstrip(": ")
    elif lost_claim is not None:
        ready_reason = REASON_CLAIM_LOST
        ready_message = f"claim {lost_claim['resourceName']}: {lost_claim['errorMessage']}"
    elif succeeded:
        ready_reason, ready_message = REASON_POD_SUCCEEDED, "every pod has run to completion"
    elif ready:
        addresses = ", ".join(f"{s['resourceName']} at {s.get('podIP')}:{s.get('port')}"
                              for s in status["pods"].values())
        ready_reason, ready_message = REASON_READY, f"running: {addresses}" if addresses else "provisioned"
    else:
        unfinished = [*(p for p in status["pods"].values() if p["state"] != STATE_RUNNING),
                      *(o for o in (*([status["secret"]] if "secret" in status else []), *status["pvcs"].values(),
                                    *status["otherResources"].values())
                        if o["state"] != STATE_PROVISIONED)]
        detail = "; ".join(f"{s['resourceName']}: {s.get('errorMessage') or s['state'].lower()}" for s in unfinished)
        ready_reason = REASON_WAITING if any(s["state"] == STATE_WAITING for s in unfinished) else REASON_PROVISIONING
        ready_message = f"waiting for {detail}" if detail else "provisioning"

    degraded = problem is not None or failed_pod is not None or lost_claim is not None
    progressing = (not ready and not succeeded and (problem is None or problem.retrying) and failed_pod is None
                   and lost_claim is None)
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    status["conditions"] = [
        _condition(CONDITION_READY, ready, ready_reason, ready_message, generation, old.get(CONDITION_READY), now),
        _condition(CONDITION_PROGRESSING, progressing, ready_reason if progressing else
                   (REASON_READY if ready else ready_reason), ready_message, generation,
                   old.get(CONDITION_PROGRESSING), now),
        _condition(CONDITION_DEGRADED, degraded, ready_reason if degraded else REASON_AS_EXPECTED,
                   ready_message if degraded else "", generation, old.get(CONDITION_DEGRADED), now),
    ]
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def rendered_from(previous: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """The template version an instance is rendered from: what its status already records (set at the first
    rendering and never moved, so a running server keeps its version), else `template` as it is now."""
    recorded = previous.get("template")
    if isinstance(recorded, Mapping) and recorded.get("uid"):
        return dict(recorded)
    meta = template.get("metadata") or {}
    version = {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
               "generation": meta.get("generation")}
    return {k: v for k, v in version.items() if v is not None}


def template_changed(recorded: Mapping[str, Any], template: Mapping[str, Any]) -> str:
    """Why `template` (as it is now) is not the version `recorded`, or "" if it is."""
    meta = template.get("metadata") or {}
    if recorded.get("uid") != meta.get("uid"):
        return (f"template {recorded.get('namespace')}/{recorded.get('name')} was deleted and created again since "
                "this server started")
    if recorded.get("generation") != meta.get("generation"):
        return (f"template {recorded.get('namespace')}/{recorded.get('name')} changed since this server started "
                f"(generation {recorded.get('generation')}, now {meta.get('generation')})")
    return ""


def current(instance: models.Instance | Mapping[str, Any]) -> dict[str, Any]:
    """The status an instance carries now, as a plain dict."""
    if isinstance(instance, models.Instance):
        return instance.status.to_dict() if instance.status else {}
    return dict(instance.get("status") or {})


#: After its first progress write, a start's further progress waits this many times `status_settle_seconds`.
LATER_PROGRESS_HOLD: Final = 8


def hold_seconds(settle: float, progress_written: int) -> float:
    """How long progress on the way to Ready may wait to be written, when `progress_written` progress writes were made
    for this start already: `settle` for the first (the spawn page shows the start is under way), then
    `LATER_PROGRESS_HOLD` times it. In a storm a start waits several seconds for the scheduler and the volume, and
    each of those steps would otherwise be a status write of its own; Ready and any problem are written at once."""
    return settle if progress_written == 0 else settle * LATER_PROGRESS_HOLD


def can_wait(previous: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing `new` over `previous` may wait a moment, to be written together with the next change: only
    progress on the way to Ready may (an object made, a claim bound, a pod scheduled). Ready turning True or False,
    anything Degraded or no longer progressing, and any object Failed, Denied or in Error are written at once."""
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    now = {c.get("type"): c for c in new.get("conditions") or []}
    ready = (now.get(CONDITION_READY) or {}).get("status")
    if ready == "True" or (CONDITION_READY in old and old[CONDITION_READY].get("status") != ready):
        return False
    if (now.get(CONDITION_DEGRADED) or {}).get("status") == "True":
        return False
    if (now.get(CONDITION_PROGRESSING) or {}).get("status") != "True":
        return False
    if previous.get("observedGeneration") not in (None, new.get("observedGeneration")):
        return False
    return not any(s.get("state") in (STATE_FAILED, STATE_DENIED, STATE_ERROR) for s in states(new))
