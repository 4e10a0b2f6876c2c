"""Instances and templates for the webhook, from watch-backed caches, with a direct read when the cache has not
seen an object yet (the operator creates a pod moments after its instance appears)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from jupyternetes import kube, naming
from jupyternetes.webhook import metrics

#: How many lists of every instance (for templates being deleted) the webhook makes at once.
LISTS_AT_ONCE: Final = 2


class CachedLookup:
    def __init__(self, api: kube.AsyncKube) -> None:
        self.api = api
        self.instances = kube.Reflector(api, kube.INSTANCE)
        self.templates = kube.Reflector(api, kube.TEMPLATE)
        for reflector in (self.instances, self.templates):
            reflector.on_error = lambda error, plural=reflector.rt.plural: metrics.WATCH_FAILURES.labels(plural).inc()
        self._tasks: list[asyncio.Task[None]] = []
        #: Lists of every instance (a template's deletion) at most this many at once: anything that reaches the
        #: webhook's port can send such reviews, and each list must not take a connection the API server's own
        #: reviews need.
        self._listing = asyncio.Semaphore(LISTS_AT_ONCE)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(r.run()) for r in (self.instances, self.templates)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def failing(self, longer_than: float) -> list[str]:
        """The caches whose list or watch has failed for longer than `longer_than` seconds, each with its error."""
        return [f"the watch of {r.rt.plural} has failed for {r.failing_for():.0f}s: {r.last_error}"
                for r in (self.instances, self.templates) if r.last_error and r.failing_for() > longer_than]

    @property
    def synced(self) -> bool:
        return self.instances.synced.is_set() and self.templates.synced.is_set()

    async def _read(self, reflector: kube.Reflector, rt: kube.ResourceType, namespace: str,
                    name: str) -> dict[str, Any] | None:
        if not (naming.is_dns1123_label(namespace) and naming.is_dns1123_subdomain(name)):
            return None  # no object can have that name: nothing to read, and no request path to build from it
        cached = reflector.get(namespace, name)
        if cached is not None:
            return cached
        try:
            return await self.api.get(rt, name, namespace)
        except kube.NotFound:
            return None

    async def instance(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(self.instances, kube.INSTANCE, namespace, name)

    async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(self.templates, kube.TEMPLATE, namespace, name)

    async def instances_using(self, namespace: str, name: str) -> list[str]:
        """Every instance (namespace/name) whose template is `namespace`/`name`, read from the API server, not the
        cache: deleting a template is rare, and an instance created a moment ago must count. `kube.ApiError` if the
        list fails."""
        found = []
        async with self._listing:
            listed = await self.api.list(kube.INSTANCE)
        for item in listed.get("items") or []:
            meta = item.get("metadata") or {}
            ref = (item.get("spec") or {}).get("template") or {}
            if ref.get("name") == name and (ref.get("namespace") or meta.get("namespace")) == namespace:
                found.append(f"{meta.get('namespace')}/{meta.get('name')}")
        return sorted(found)

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A pod as it is now (read when an instance's status names a new address, which is rare)."""
        if not (naming.is_dns1123_label(namespace) and naming.is_dns1123_subdomain(name)):
            return None
        try:
            return await self.api.get(kube.POD, name, namespace)
        except kube.NotFound:
            return None
