"""Wiring: watch events update the cache and queue instances; workers reconcile them; a slow resync re-checks all.

Pods and PVCs map back to their instance through the annotation that carries its full name; a template event
re-queues the instances that use the template (so an instance waiting for a missing template starts as soon as an
officer creates it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping
from typing import Any

from jupyternetes import kube
from jupyternetes.operator import events, metrics
from jupyternetes.operator.cache import Cache, InstanceKey
from jupyternetes.operator.reconcile import Reconciler
from jupyternetes.operator.settings import OperatorSettings
from jupyternetes.operator.workqueue import Backoff, WorkQueue

logger = logging.getLogger(__name__)


class Controller:
    def __init__(self, api: kube.AsyncKube, settings: OperatorSettings) -> None:
        self.api = api
        self.settings = settings
        self.cache = Cache()
        self.recorder = events.Recorder(api, settings.identity or socket.gethostname())
        self.reconciler = Reconciler(api, settings, self.cache, self.recorder)
        self.queue: WorkQueue[InstanceKey] = WorkQueue(
            self._work, settings.workers, Backoff(settings.retry_base_seconds, settings.retry_max_seconds))
        self._resync: asyncio.Task[None] | None = None

    async def _work(self, key: InstanceKey) -> None:
        result = await self.reconciler.reconcile(key)
        if result.retry:
            delay = self.queue.retry(key)
            logger.info("%s/%s: retrying in %.0fs", key[0], key[1], delay)
        else:
            self.queue.forget(key)
            if result.requeue_after:
                self.queue.add_after(key, result.requeue_after)
        metrics.QUEUE_DEPTH.set(len(self.queue))

    # Watch events ----------------------------------------------------------------------------------------------

    def on_instance(self, event_type: str | None, body: dict[str, Any]) -> None:
        if event_type == "DELETED":
            key = self.cache.drop_instance(body)
            if key is not None:
                self.queue.forget(key)
            return
        self.queue.add(self.cache.put_instance(body))

    def on_template(self, event_type: str | None, body: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.cache.drop_template(body)
        else:
            self.cache.put_template(body)
        for key in self.cache.instances_using(body):
            self.queue.add(key)

    def on_object(self, event_type: str | None, body: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.cache.drop_object(body)
        else:
            self.cache.put_object(body)
        owner = self.cache.owner_of(body)
        if owner is not None and owner in self.cache.instances:
            self.queue.add(owner)

    # Life cycle ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.queue.start()
        self._resync = asyncio.create_task(self._resync_loop(), name="resync")

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        await self.queue.stop()
        await self.recorder.drain()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            for key in list(self.cache.instances):
                self.queue.add(key)


def as_dict(body: Mapping[str, Any]) -> dict[str, Any]:
    """A plain, mutable copy of an object that kopf hands over."""
    return {key: value for key, value in body.items()}
