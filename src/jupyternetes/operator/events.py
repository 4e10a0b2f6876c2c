"""Kubernetes Events on instances: the audit trail of every action and decision the operator takes.

Reasons are stable strings (listed here) so that people and tools can filter on them. Events are written in the
background so that a slow or failing Event write never delays provisioning; a failure is logged, not retried forever.

Beside the Events, every provisioning action (each create of a pod, PVC, Secret or other resource, done or refused)
is one JSON record on the `jupyternetes.provisioning` logger (docs/audit.md): names, the instance, template, hub user
and images, never an object's body, so the opened sealed variables in the instance's Secret never reach a log.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from jupyternetes import constants, entitlements, jsonlog, kube, models
from jupyternetes.operator import status

logger = logging.getLogger(__name__)

COMPONENT: Final = "jupyternetes-operator"
MAX_MESSAGE: Final = 1024

NORMAL: Final = "Normal"
WARNING: Final = "Warning"

# Reasons of the events the operator writes. A Warning about why an instance is degraded carries the very reason its
# Degraded condition has (one list of those, in operator/status.py): the same word in `kubectl get jni -o wide`,
# `kubectl describe` and the spawner's messages.
CREATED: Final = "Created"
REUSED: Final = "Reused"
RECREATED: Final = "Recreated"
WAITING: Final = "Waiting"
READY: Final = "Ready"
FAILED: Final = "Failed"
DENIED: Final = status.REASON_DENIED
POD_FAILED: Final = status.REASON_POD_FAILED
POD_SUCCEEDED: Final = status.REASON_POD_SUCCEEDED
TEMPLATE_NOT_FOUND: Final = status.REASON_TEMPLATE_NOT_FOUND
TEMPLATE_NOT_ALLOWED: Final = status.REASON_TEMPLATE_NOT_ALLOWED
RENDER_FAILED: Final = status.REASON_RENDER_FAILED
KIND_NOT_ALLOWED: Final = status.REASON_KIND_NOT_ALLOWED
QUOTA_EXCEEDED: Final = status.REASON_QUOTA
CONFLICT: Final = status.REASON_CONFLICT
SEALED: Final = status.REASON_SEALED
TEMPLATE_CHANGED: Final = status.REASON_TEMPLATE_CHANGED


_MADE: Final = {CREATED: ("Created", ""), RECREATED: ("Recreated", ", which had been deleted"),
                REUSED: ("Reusing existing", "")}


def made_message(reason: str, nouns: list[str]) -> str:
    """"Created PersistentVolumeClaim a (template entry 'workspace'); Pod b (template entry 'notebook')": the objects
    one pass made (or recreated, or reused), in the order it made them."""
    verb, tail = _MADE[reason]
    message = f"{verb} " + "; ".join(f"{noun}{tail}" for noun in nouns)
    shown = len(nouns)
    while len(message) > MAX_MESSAGE and shown > 1:
        # Too long for one Event: name as many as fit, and count the rest (each has its provisioning record).
        shown -= 1
        message = (f"{verb} " + "; ".join(f"{noun}{tail}" for noun in nouns[:shown])
                   + f"; and {len(nouns) - shown} more")
    return message


PROVISIONING_LOGGER: Final = "jupyternetes.provisioning"
PROVISIONING_TYPE: Final = "provisioning-action"
#: How the webhook names the rule of each problem in a refusal: "... (rule images)".
_RULE: Final = re.compile(r"\(rule ([A-Za-z0-9_.:-]+)\)")
_MAX_REASON: Final = 1000


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_for(instance: Mapping[str, Any], type_: str, reason: str, message: str, instance_id: str
              ) -> dict[str, Any]:
    meta = instance["metadata"]
    now = _now()
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name'][:200]}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": constants.API_VERSION,
            "kind": constants.INSTANCE_KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance_id,
        "firstTimestamp": now.split(".")[0] + "Z",
        "lastTimestamp": now.split(".")[0] + "Z",
        "count": 1,
    }


class Recorder:
    """Writes Events in background tasks; `drain()` waits for the ones in flight (for shutdown and tests)."""

    #: Events written at the same time. In a storm there are hundreds waiting; each one in flight holds a connection
    #: to the API server, and provisioning should have most of them.
    IN_FLIGHT: Final = 4

    def __init__(self, api: kube.AsyncKube, instance_id: str) -> None:
        self.api = api
        self.instance_id = instance_id
        self._pending: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.IN_FLIGHT)

    def record(self, instance: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        meta = instance["metadata"]
        logger.info("event %s/%s %s %s: %s", meta["namespace"], meta["name"], type_, reason, message)
        task = asyncio.create_task(self._write(event_for(instance, type_, reason, message, self.instance_id)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def provisioned(self, instance: Mapping[str, Any], manifest: Mapping[str, Any], *,
                    created: Mapping[str, Any] | None = None, error: kube.ApiError | None = None) -> None:
        """One JSON record of a create sent to the API server: done (`created`, the object as stored) or refused
        (`error`). See `record_provisioning`."""
        record_provisioning(instance, manifest, self.instance_id, created=created, error=error)

    def normal(self, instance: Mapping[str, Any], reason: str, message: str) -> None:
        self.record(instance, NORMAL, reason, message)

    def warning(self, instance: Mapping[str, Any], reason: str, message: str) -> None:
        self.record(instance, WARNING, reason, message)

    async def _write(self, event: dict[str, Any]) -> None:
        try:
            async with self._slots:
                await self.api.create(event)
        except Exception as error:  # noqa: BLE001 - API or transport error: an event is not worth crashing for
            logger.warning("could not write event %s for %s: %s", event["reason"],
                           event["involvedObject"]["name"], error)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the Events in flight, at most `timeout` seconds (a stop must not outlast the pod's grace period
        behind a queue of Events); the rest are dropped, and logged."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._pending:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                logger.warning("dropping %d Events not yet written at stop", len(self._pending))
                for task in list(self._pending):
                    task.cancel()
                await asyncio.gather(*list(self._pending), return_exceptions=True)
                return
            await asyncio.wait(list(self._pending), timeout=left)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _images(manifest: Mapping[str, Any]) -> list[str]:
    return sorted(set(models.pod_images(manifest.get("spec")))) if manifest.get("kind") == "Pod" else []


def provisioning_record(instance: Mapping[str, Any], manifest: Mapping[str, Any], reporting_instance: str, *,
                        created: Mapping[str, Any] | None = None, error: kube.ApiError | None = None,
                        timestamp: str | None = None) -> dict[str, Any]:
    """The record of one create the operator sent (pure; names only, never the manifest's body)."""
    meta = instance.get("metadata") or {}
    made = manifest.get("metadata") or {}
    labels = made.get("labels") or {}
    ref = (instance.get("spec") or {}).get("template") or {}
    if error is None:
        outcome, code, reason, rules = "created", 201, "", []
    else:
        message = error.message
        # Refused by admission (the webhook, or a ValidatingAdmissionPolicy), as reconcile.classify tells it.
        denied = (("admission webhook" in message and "denied the request" in message and error.status < 500)
                  or ("ValidatingAdmissionPolicy" in message and "denied request" in message))
        outcome = "denied" if denied else "failed"
        code, reason = error.status, error.message[:_MAX_REASON]
        rules = sorted(set(_RULE.findall(error.message)))
    return {
        "schema": jsonlog.SCHEMA_VERSION,
        "type": PROVISIONING_TYPE,
        "timestamp": timestamp or jsonlog.now(),
        "component": COMPONENT,
        "reporting_instance": reporting_instance,
        "action": "create",
        "outcome": outcome,
        "code": code,
        "api_version": _text(manifest.get("apiVersion")),
        "kind": _text(manifest.get("kind")),
        "namespace": _text(made.get("namespace")) or _text(meta.get("namespace")),
        "name": _text(made.get("name")),
        "uid": _text((created or {}).get("metadata", {}).get("uid")) or None,
        "entry": _text(labels.get(constants.LABEL_ENTRY)),
        "instance": {"namespace": _text(meta.get("namespace")), "name": _text(meta.get("name")),
                     "uid": _text(meta.get("uid"))},
        "template": {"namespace": _text(ref.get("namespace")) or _text(meta.get("namespace")),
                     "name": _text(ref.get("name"))},
        "hub_user": entitlements.hub_user(instance),
        "images": _images(manifest),
        "rules": rules,
        "reason": reason,
    }


_provisioning_log = jsonlog.logger(PROVISIONING_LOGGER)


def record_provisioning(instance: Mapping[str, Any], manifest: Mapping[str, Any], reporting_instance: str, *,
                        created: Mapping[str, Any] | None = None, error: kube.ApiError | None = None) -> None:
    """Write the record of one create (never raises)."""
    try:
        record = provisioning_record(instance, manifest, reporting_instance, created=created, error=error)
    except Exception:  # noqa: BLE001 - a record that cannot be built must not stop provisioning
        logger.exception("could not build a provisioning record")
        return
    jsonlog.emit(_provisioning_log, record)
