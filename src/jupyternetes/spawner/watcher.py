"""One watch of JupyterNotebookInstances per namespace, shared by every spawner in the hub.

A class of students pressing Start at once makes one list and one watch stream, not one polling loop each: spawners
read instances from the shared copy and wait on it for the changes they care about.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar

from jupyternetes import kube

Predicate = Callable[[dict[str, Any] | None], bool]


class InstanceWatcher:
    _shared: ClassVar[dict[tuple[int, str], InstanceWatcher]] = {}

    def __init__(self, api: kube.AsyncKube, namespace: str) -> None:
        self.namespace = namespace
        self._waiters: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self.reflector = kube.Reflector(api, kube.INSTANCE, namespace, on_change=self._changed)
        self._task = asyncio.create_task(self.reflector.run(), name=f"jupyternetes-instances-{namespace}")

    @classmethod
    def shared(cls, api: kube.AsyncKube, namespace: str) -> InstanceWatcher:
        """The watcher for `namespace` on this client, started on first use (in the hub's event loop)."""
        key = (id(api), namespace)
        watcher = cls._shared.get(key)
        if watcher is None or watcher._task.done():
            watcher = cls._shared[key] = cls(api, namespace)
        return watcher

    async def synced(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.reflector.synced.wait(), timeout)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.reflector.get(self.namespace, name)

    def _changed(self, kind: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        current = None if kind == "DELETED" else obj
        for queue in self._waiters.get(name, ()):
            queue.put_nowait(current)

    def subscribe(self, name: str) -> asyncio.Queue[dict[str, Any] | None]:
        """A queue that receives the instance (or None once it is gone) every time it changes."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._waiters.setdefault(name, set()).add(queue)
        return queue

    def unsubscribe(self, name: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        waiters = self._waiters.get(name)
        if waiters is not None:
            waiters.discard(queue)
            if not waiters:
                del self._waiters[name]

    async def wait_for(self, name: str, predicate: Predicate, timeout: float) -> dict[str, Any] | None:
        """The instance once `predicate` holds for it (None: it is gone); TimeoutError after `timeout` seconds."""
        queue = self.subscribe(name)
        try:
            await self.synced(timeout)
            current = self.get(name)
            deadline = time.monotonic() + timeout
            while not predicate(current):
                current = await asyncio.wait_for(queue.get(), max(0.0, deadline - time.monotonic()))
            return current
        finally:
            self.unsubscribe(name, queue)
