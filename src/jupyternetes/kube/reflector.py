"""A watch-backed in-memory copy of one resource type."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any


from jupyternetes.kube.client import AsyncKube
from jupyternetes.kube.errors import Gone
from jupyternetes.kube.resources import ResourceType


_logger = logging.getLogger(__name__)


class Reflector:
    """An in-memory copy of every object of one resource type, kept current by list and watch.

    `synced` is set once the first list has been loaded. A failed or expired watch lists again after a short pause;
    readers always see the newest copy the stream delivered.
    """

    def __init__(self, api: AsyncKube, rt: ResourceType, namespace: str | None = None,
                 label_selector: str | None = None, retry_seconds: float = 1.0,
                 on_change: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.api = api
        #: Called with ("ADDED" | "MODIFIED" | "DELETED", object) for every change, and once per object on a relist.
        self.on_change = on_change
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.retry_seconds = retry_seconds
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.synced = asyncio.Event()
        #: Why the last list or watch failed ("" while it works), since when (monotonic), and how many times in all:
        #: a watch refused for good (403 after an RBAC change) is logged and can be seen, not retried in silence.
        self.last_error = ""
        self.failing_since: float | None = None
        self.failures = 0
        #: Called with the error each time the list or watch fails.
        self.on_error: Callable[[Exception], None] | None = None

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.items.get((namespace, name))

    async def run(self) -> None:
        params: dict[str, Any] = {"labelSelector": self.label_selector} if self.label_selector else {}
        while True:
            try:
                listing = await self.api.list(self.rt, self.namespace, **params)
                if self.failing_since is not None:
                    _logger.info("listing %s works again", self.rt.plural)
                self.last_error, self.failing_since = "", None
                fresh = {self._key(item): item for item in listing.get("items", [])}
                gone = [obj for key, obj in self.items.items() if key not in fresh]
                self.items = fresh
                self.synced.set()
                if self.on_change is not None:
                    for obj in gone:
                        self.on_change("DELETED", obj)
                    for obj in fresh.values():
                        self.on_change("MODIFIED", obj)
                version = listing["metadata"]["resourceVersion"]
                while True:
                    async for event in self.api.watch(self.rt, self.namespace, resourceVersion=version, **params):
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            raise Gone(410, "Expired", str(obj.get("message", "watch expired")))
                        version = (obj.get("metadata") or {}).get("resourceVersion", version)
                        if kind == "DELETED":
                            self.items.pop(self._key(obj), None)
                        elif kind in ("ADDED", "MODIFIED"):
                            self.items[self._key(obj)] = obj
                        else:
                            continue
                        if self.on_change is not None:
                            self.on_change(kind, obj)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - an API hiccup: list again shortly
                message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
                status = getattr(error, "status", None)
                described = f"{status} {message}" if status else str(message)
                if isinstance(error, Gone):
                    pass  # an expired watch is routine: list again
                elif described != self.last_error:
                    _logger.warning("the watch of %s failed (retrying every %gs): %s", self.rt.plural,
                                    self.retry_seconds, described)
                if not isinstance(error, Gone):
                    self.last_error = described
                    self.failing_since = self.failing_since or time.monotonic()
                    self.failures += 1
                    if self.on_error is not None:
                        self.on_error(error)
                await asyncio.sleep(self.retry_seconds)

    def failing_for(self) -> float:
        """How long the list or watch has failed without a success in between, in seconds (0 while it works)."""
        return 0.0 if self.failing_since is None else time.monotonic() - self.failing_since
