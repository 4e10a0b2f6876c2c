"""Kubernetes Events on instances: the audit trail of every action and decision the operator takes.

Reasons are stable strings (listed here) so that people and tools can filter on them. Events are written in the
background so that a slow or failing Event write never delays provisioning; a failure is logged, not retried forever.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from typing import Any, Final

from jupyternetes import constants, kube

logger = logging.getLogger(__name__)

COMPONENT: Final = "jupyternetes-operator"
MAX_MESSAGE: Final = 1024

NORMAL: Final = "Normal"
WARNING: Final = "Warning"

# Reasons of the events the operator writes.
CREATED: Final = "Created"
REUSED: Final = "Reused"
RECREATED: Final = "Recreated"
WAITING: Final = "Waiting"
READY: Final = "Ready"
DENIED: Final = "AdmissionDenied"
FAILED: Final = "Failed"
POD_FAILED: Final = "PodFailed"
POD_SUCCEEDED: Final = "PodSucceeded"
TEMPLATE_NOT_FOUND: Final = "TemplateNotFound"
TEMPLATE_NOT_ALLOWED: Final = "TemplateNamespaceNotAllowed"
RENDER_FAILED: Final = "RenderFailed"
KIND_NOT_ALLOWED: Final = "KindNotAllowed"
QUOTA_EXCEEDED: Final = "QuotaExceeded"
CONFLICT: Final = "NameConflict"
SEALED: Final = "SealedVariablesUnreadable"
TEMPLATE_CHANGED: Final = "TemplateChanged"


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

    def __init__(self, api: kube.AsyncKube, instance_id: str) -> None:
        self.api = api
        self.instance_id = instance_id
        self._pending: set[asyncio.Task[None]] = set()

    def record(self, instance: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        meta = instance["metadata"]
        logger.info("event %s/%s %s %s: %s", meta["namespace"], meta["name"], type_, reason, message)
        task = asyncio.create_task(self._write(event_for(instance, type_, reason, message, self.instance_id)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def normal(self, instance: Mapping[str, Any], reason: str, message: str) -> None:
        self.record(instance, NORMAL, reason, message)

    def warning(self, instance: Mapping[str, Any], reason: str, message: str) -> None:
        self.record(instance, WARNING, reason, message)

    async def _write(self, event: dict[str, Any]) -> None:
        try:
            await self.api.create(event)
        except Exception as error:  # noqa: BLE001 - API or transport error: an event is not worth crashing for
            logger.warning("could not write event %s for %s: %s", event["reason"],
                           event["involvedObject"]["name"], error)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
