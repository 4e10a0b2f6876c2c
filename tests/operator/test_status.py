"""Status computation (pure): per-object states, summaries, and the Ready / Progressing / Degraded conditions."""

from __future__ import annotations

from typing import Any

import pytest

from jupyternetes import models, render
from jupyternetes.operator import status
from jupyternetes.operator.status import Outcome, Problem
from tests import seeds

NOW = "2026-11-22T10:00:00Z"
LATER = "2026-11-22T10:05:00Z"


@pytest.fixture
def manifests() -> render.Manifests:
    return render.render(models.parse_template(seeds.seed_template()), models.parse_instance(seeds.seed_instance()))


def _running_pod(manifest: dict[str, Any], ip: str = "10.244.0.7") -> dict[str, Any]:
    return {**manifest, "status": {"phase": "Running", "podIP": ip,
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def _bound(manifest: dict[str, Any]) -> dict[str, Any]:
    return {**manifest, "status": {"phase": "Bound"}}


def _conditions(result: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in result["conditions"]}


def _build(manifests: render.Manifests | None, observed: dict | None = None, outcomes: dict | None = None,
           problem: Problem | None = None, previous: dict | None = None, now: str = NOW) -> dict[str, Any]:
    return status.build(generation=1, manifests=manifests, observed=observed or {}, outcomes=outcomes or {},
                        problem=problem, previous=previous, now=now)


def test_nothing_created_yet_is_pending_and_progressing(manifests: render.Manifests) -> None:
    result = _build(manifests)
    assert result["pvcsProvisioned"] == "Pending"
    assert result["podsProvisioned"] == "Pending"
    assert result["pods"]["notebook"] == {"resourceName": manifests.pods[0].name, "state": "Pending"}
    assert _conditions(result) == {"Ready": ("False", "Provisioning"), "Progressing": ("True", "Provisioning"),
                                   "Degraded": ("False", "AsExpected")}
    assert result["observedGeneration"] == 1


def test_a_running_pod_with_its_pvc_bound_is_ready_with_ip_and_http_port(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    result = _build(manifests, {pvc.name: _bound(pvc.manifest), pod.name: _running_pod(pod.manifest)})
    assert result["pods"]["notebook"] == {"resourceName": pod.name, "state": "Running", "phase": "Running",
                                          "podIP": "10.244.0.7", "port": 8888}
    assert result["pvcs"]["workspace"] == {"resourceName": pvc.name, "state": "Provisioned", "phase": "Bound"}
    assert result["podsProvisioned"] == "Running"
    assert result["pvcsProvisioned"] == "Provisioned"
    assert _conditions(result) == {"Ready": ("True", "PodsRunning"), "Progressing": ("False", "PodsRunning"),
                                   "Degraded": ("False", "AsExpected")}
    ready = next(c for c in result["conditions"] if c["type"] == "Ready")
    assert "10.244.0.7:8888" in ready["message"]


def test_a_pod_without_an_ip_has_no_address_at_all_and_says_why_it_waits(manifests: render.Manifests) -> None:
    """An address is an IP and a port together: a pod the scheduler cannot place reports neither (the webhook judges
    only entries with an IP), and the scheduler's words."""
    pod = manifests.pods[0]
    pending = {**pod.manifest, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient cpu."}]}}
    result = _build(manifests, {pod.name: pending})
    assert result["pods"]["notebook"] == {
        "resourceName": pod.name, "state": "Provisioned", "phase": "Pending", "reason": "Unschedulable",
        "errorMessage": "no node can take the pod yet: 0/3 nodes are available: 3 Insufficient cpu."}


@pytest.mark.parametrize(("status", "reason", "message"), [
    ({"phase": "Pending", "containerStatuses": [{"name": "nb", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "quay.io/x/y:1"'}}}]},
     "ImagePullBackOff", 'container nb: ImagePullBackOff: Back-off pulling image "quay.io/x/y:1"'),
    ({"phase": "Pending", "containerStatuses": [{"name": "nb", "state": {"waiting": {
        "reason": "ErrImagePull", "message": "not found"}}}]}, "ErrImagePull", "container nb: ErrImagePull: not found"),
    ({"phase": "Running", "podIP": "10.0.0.9", "containerStatuses": [{"name": "nb", "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 40s"}}, "lastState": {"terminated": {
            "exitCode": 1, "reason": "Error"}}}]},
     "CrashLoopBackOff", "container nb: CrashLoopBackOff: back-off 40s; it last exited with code 1 (Error)"),
    ({"phase": "Running", "podIP": "10.0.0.9", "containerStatuses": [{"name": "nb", "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 40s"}}, "lastState": {"terminated": {
            "exitCode": 137, "reason": "OOMKilled"}}}]},
     "OOMKilled", "container nb: CrashLoopBackOff: back-off 40s; it last exited with code 137 (OOMKilled)"),
    ({"phase": "Pending", "initContainerStatuses": [{"name": "init", "state": {"waiting": {
        "reason": "CreateContainerConfigError", "message": 'secret "s" not found'}}}]},
     "CreateContainerConfigError", 'container init: CreateContainerConfigError: secret "s" not found'),
])
def test_the_kubelets_reason_reaches_the_status_in_its_own_words(
    manifests: render.Manifests, status: dict[str, Any], reason: str, message: str
) -> None:
    """The hub cannot read pods or Events: why a container does not start (or keeps stopping) must reach the user
    through the instance's status."""
    pod = manifests.pods[0]
    result = _build(manifests, {pod.name: {**pod.manifest, "status": status}})
    assert result["pods"]["notebook"]["state"] == "Provisioned"
    assert (result["pods"]["notebook"]["reason"], result["pods"]["notebook"]["errorMessage"]) == (reason, message)


def test_a_container_that_is_being_created_is_no_problem(manifests: render.Manifests) -> None:
    pod = manifests.pods[0]
    result = _build(manifests, {pod.name: {**pod.manifest, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "nb", "state": {"waiting": {"reason": "ContainerCreating"}}}]}}})
    assert "reason" not in result["pods"]["notebook"] and "errorMessage" not in result["pods"]["notebook"]


def test_a_failed_pod_is_degraded_and_no_longer_progressing(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    failed = {**pod.manifest, "status": {"phase": "Failed", "reason": "Error", "message": "exit code 1"}}
    result = _build(manifests, {pvc.name: _bound(pvc.manifest), pod.name: failed})
    assert result["pods"]["notebook"]["state"] == "Failed"
    assert result["pods"]["notebook"]["errorMessage"] == "exit code 1"
    assert result["podsProvisioned"] == "Failed"
    assert _conditions(result) == {"Ready": ("False", "PodFailed"), "Progressing": ("False", "PodFailed"),
                                   "Degraded": ("True", "PodFailed")}


def test_a_claim_waiting_for_a_volume_says_so_and_of_which_class(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    waiting = {**pvc.manifest, "spec": {**pvc.manifest["spec"], "storageClassName": "fast"},
               "status": {"phase": "Pending"}}
    result = _build(manifests, {pvc.name: waiting, pod.name: pod.manifest})
    assert result["pvcs"]["workspace"] == {
        "resourceName": pvc.name, "state": "Provisioned", "phase": "Pending", "reason": "Pending",
        "errorMessage": "the claim is waiting for a volume of storage class 'fast' (until one is provisioned, or the "
                        "pod is scheduled)"}
    assert _conditions(result)["Degraded"] == ("False", "AsExpected")  # it may yet bind
    assert _conditions(result)["Progressing"] == ("True", "Provisioning")


def test_a_claim_that_lost_its_volume_is_degraded_with_what_to_do(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    lost = {**pvc.manifest, "spec": {**pvc.manifest["spec"], "volumeName": "pvc-1234"}, "status": {"phase": "Lost"}}
    result = _build(manifests, {pvc.name: lost, pod.name: pod.manifest})
    state = result["pvcs"]["workspace"]
    assert (state["state"], state["reason"]) == ("Failed", "ClaimLost")
    assert state["errorMessage"].startswith("the claim lost its volume pvc-1234, which no longer exists;")
    assert result["pvcsProvisioned"] == "Failed"
    assert _conditions(result) == {"Ready": ("False", "ClaimLost"), "Progressing": ("False", "ClaimLost"),
                                   "Degraded": ("True", "ClaimLost")}


def test_a_denied_pod_keeps_the_admission_message(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    message = 'admission webhook "validate.jupyternetes" denied the request: image not allowed'
    result = _build(manifests, {pvc.name: _bound(pvc.manifest)}, {pod.name: Outcome("Denied", message)},
                    Problem(status.REASON_DENIED, f"creating Pod {pod.name}: {message}", retrying=False))
    assert result["pods"]["notebook"] == {"resourceName": pod.name, "state": "Denied", "errorMessage": message}
    assert _conditions(result)["Degraded"] == ("True", "AdmissionDenied")
    assert _conditions(result)["Progressing"] == ("False", "AdmissionDenied")
    degraded = next(c for c in result["conditions"] if c["type"] == "Degraded")
    assert message in degraded["message"]


def test_a_problem_being_retried_is_still_progressing() -> None:
    result = _build(None, problem=Problem(status.REASON_QUOTA, "exceeded quota: pods", retrying=True))
    assert _conditions(result) == {"Ready": ("False", "QuotaExceeded"), "Progressing": ("True", "QuotaExceeded"),
                                   "Degraded": ("True", "QuotaExceeded")}


def test_an_unchanged_status_is_identical_so_it_is_not_written_again(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    observed = {pvc.name: _bound(pvc.manifest), pod.name: _running_pod(pod.manifest)}
    first = _build(manifests, observed)
    assert _build(manifests, observed, previous=first, now=LATER) == first


def test_transition_times_change_only_when_a_condition_changes(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    pending = _build(manifests, {pvc.name: _bound(pvc.manifest)})
    ready = _build(manifests, {pvc.name: _bound(pvc.manifest), pod.name: _running_pod(pod.manifest)},
                   previous=pending, now=LATER)
    times = {c["type"]: c["lastTransitionTime"] for c in ready["conditions"]}
    assert times == {"Ready": LATER, "Progressing": LATER, "Degraded": NOW}


@pytest.mark.parametrize(
    ("containers", "port"),
    [
        ([{"ports": [{"containerPort": 9000}, {"containerPort": 8888, "name": "http"}]}], 8888),
        ([{"ports": [{"containerPort": 9000, "name": "metrics"}]}, {"ports": [{"containerPort": 8000}]}], 9000),
        ([{"name": "no-ports"}], None),
    ],
)
def test_the_port_is_the_one_named_http_else_the_first(containers: list, port: int | None) -> None:
    assert models.http_port({"containers": containers}) == port


def _progress(manifests: render.Manifests, pod_status: dict[str, Any] | None = None,
              problem: Problem | None = None, previous: dict | None = None) -> dict[str, Any]:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    observed = {pvc.name: _bound(pvc.manifest), pod.name: {**pod.manifest, "status": pod_status or {}}}
    return _build(manifests, observed, problem=problem, previous=previous)


def test_progress_on_the_way_to_ready_may_wait_to_be_written_with_the_next_change(
        manifests: render.Manifests) -> None:
    first = _progress(manifests, {"phase": "Pending"})
    assert status.can_wait({}, first)  # the first report: objects made, pod pending
    scheduled = _progress(manifests, {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
                          previous=first)
    assert status.can_wait(first, scheduled)


def test_ready_failures_and_problems_are_written_at_once(manifests: render.Manifests) -> None:
    pvc, pod = manifests.pvcs[0], manifests.pods[0]
    pending = _progress(manifests, {"phase": "Pending"})
    ready = _build(manifests, {pvc.name: _bound(pvc.manifest), pod.name: _running_pod(pod.manifest)})
    assert not status.can_wait(pending, ready)
    assert not status.can_wait(ready, _progress(manifests, {"phase": "Pending"}, previous=ready))  # no longer ready
    assert not status.can_wait(pending, _progress(manifests, {"phase": "Failed", "reason": "Error"}))
    retried = _progress(manifests, {"phase": "Pending"}, problem=Problem(status.REASON_QUOTA, "quota", retrying=True))
    assert not status.can_wait(pending, retried)  # Degraded, though still progressing
    refused = _progress(manifests, {"phase": "Pending"}, problem=Problem(status.REASON_DENIED, "no", retrying=False))
    assert not status.can_wait(pending, refused)
    respecified = {**pending, "observedGeneration": 2}
    assert not status.can_wait(pending, respecified)


def test_one_event_names_everything_a_pass_made_and_counts_what_does_not_fit() -> None:
    from jupyternetes.operator import events

    assert events.made_message(events.CREATED, ["PersistentVolumeClaim a (template entry 'w')", "Pod b"]) == \
        "Created PersistentVolumeClaim a (template entry 'w'); Pod b"
    assert events.made_message(events.RECREATED, ["Pod b"]) == "Recreated Pod b, which had been deleted"
    many = [f"ConfigMap settings-{i:03d} (template entry 'settings-{i:03d}')" for i in range(40)]
    message = events.made_message(events.CREATED, many)
    assert len(message) <= events.MAX_MESSAGE
    shown = message.count("ConfigMap")
    assert message.endswith(f"; and {40 - shown} more") and shown > 10


def test_after_its_first_progress_write_a_starts_progress_waits_eight_times_as_long() -> None:
    assert [status.hold_seconds(1.0, n) for n in range(4)] == [1.0, 8.0, 8.0, 8.0]
    assert [status.hold_seconds(0.5, n) for n in range(3)] == [0.5, 4.0, 4.0]
