"""Instances and templates for the webhook, from watch-backed caches, with a direct read when the cache has not
seen an object yet (the operator creates a pod moments after its instance appears)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from typing import Any

from jupyternetes import kube, naming
from jupyternetes.webhook import metrics

#: Every instance (namespace/name, sorted) by its template's (namespace, name).
Index = Mapping[tuple[str, str], tuple[str, ...]]


class CachedLookup:
    def __init__(self, api: kube.AsyncKube, list_seconds: float | None = None) -> None:
        self.api = api
        #: The longest a list of every instance (a template's deletion) may take; no limit if None.
        self.list_seconds = list_seconds
        self.instances = kube.Reflector(api, kube.INSTANCE)
        self.templates = kube.Reflector(api, kube.TEMPLATE)
        for reflector in (self.instances, self.templates):
            reflector.on_error = lambda error, plural=reflector.rt.plural: metrics.WATCH_FAILURES.labels(plural).inc()
        self._tasks: list[asyncio.Task[None]] = []
        #: The list of every instance under way, and the next one, which every caller that comes while that one
        #: runs shares (see `_instances_by_template`).
        self._listing: asyncio.Future[Index] | None = None
        self._next_list: asyncio.Future[Index] | None = None
        self._workers: set[asyncio.Future[Index]] = set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(r.run()) for r in (self.instances, self.templates)]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._workers]
        for task in tasks:
            task.cancel()
        for task in tasks:
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
        return list((await self._instances_by_template()).get((namespace, name), ()))

    async def _instances_by_template(self) -> Index:
        """Every instance by its template, from a list that began after this call did, made at most one at a time
        however many ask: anything that reaches the webhook's port can send a template's deletion, and each list is
        every instance in the cluster. A caller that comes while a list runs cannot use it (an instance made just
        before the caller came might not be in it); it shares the next one with everyone else who came meanwhile, so
        each waits for at most two lists, and each list is read once, however many share it."""
        loop = asyncio.get_running_loop()
        upcoming = self._next_list
        if upcoming is None or upcoming.done() or upcoming.get_loop() is not loop:
            # The future is the callers' before the list can begin (a task may start at once, as with an eager
            # task factory), so that no caller can join a list already sent.
            upcoming = self._next_list = loop.create_future()
            # Its error is its callers'; if they have all given up, nobody is left to be told.
            upcoming.add_done_callback(lambda done: done.cancelled() or done.exception())
            listing = self._listing if self._listing is not None and self._listing.get_loop() is loop else None
            worker = asyncio.ensure_future(self._list_into(upcoming, listing))
            self._workers.add(worker)
            # Settled from outside the coroutine: a task cancelled before its first step never runs its body.
            worker.add_done_callback(functools.partial(self._settle, upcoming))
        return await asyncio.shield(upcoming)

    async def _list_into(self, upcoming: asyncio.Future[Index], previous: asyncio.Future[Index] | None) -> Index:
        if previous is not None:
            await asyncio.wait([previous])
            previous = None  # its answer is not needed, and may be large
        # From here on, a caller that comes needs a list that has not begun yet.
        if self._next_list is upcoming:
            self._next_list = None
        self._listing = upcoming
        # A list that outlives the API server's timeout for a review serves nobody, and would hold up the next.
        async with asyncio.timeout(self.list_seconds):
            listed = await self.api.list(kube.INSTANCE)
        return instances_by_template(listed)

    def _settle(self, upcoming: asyncio.Future[Index], worker: asyncio.Future[Index]) -> None:
        """Give `worker`'s answer or error to the callers waiting on `upcoming`; every error is theirs."""
        self._workers.discard(worker)
        if self._next_list is upcoming:
            self._next_list = None
        if self._listing is upcoming:
            self._listing = None
        if upcoming.done():
            return
        if worker.cancelled():
            upcoming.set_exception(RuntimeError("the list of instances was cancelled: the webhook is stopping"))
        elif isinstance(error := worker.exception(), TimeoutError):
            upcoming.set_exception(RuntimeError(f"the list of every instance took longer than {self.list_seconds:g} s"))
        elif error is not None:
            upcoming.set_exception(error)
        else:
            upcoming.set_result(worker.result())

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A pod as it is now (read when an instance's status names a new address, which is rare)."""
        if not (naming.is_dns1123_label(namespace) and naming.is_dns1123_subdomain(name)):
            return None
        try:
            return await self.api.get(kube.POD, name, namespace)
        except kube.NotFound:
            return None


def instances_by_template(listed: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    """An instance list's items (namespace/name, sorted) by their template's (namespace, name); a template reference
    without a namespace is to the instance's own namespace (pure)."""
    found: dict[tuple[str, str], list[str]] = {}
    for item in listed.get("items") or []:
        meta = item.get("metadata") or {}
        ref = (item.get("spec") or {}).get("template") or {}
        key = (str(ref.get("namespace") or meta.get("namespace") or ""), str(ref.get("name") or ""))
        found.setdefault(key, []).append(f"{meta.get('namespace')}/{meta.get('name')}")
    return {key: tuple(sorted(names)) for key, names in found.items()}
