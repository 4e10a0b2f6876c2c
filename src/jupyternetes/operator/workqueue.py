"""A keyed work queue: each key is worked on by at most one worker at a time, repeated adds collapse into one, a key
added while it is being worked on runs once more afterwards, and failures back off exponentially per key.

This is what makes reconciling level-triggered: watch events only say "look at instance X again", and however many
arrive, X is reconciled from the latest state, serially.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
logger = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Per-key exponential backoff: base, 2*base, 4*base ... up to `maximum`."""

    base: float
    maximum: float
    failures: dict[Hashable, int] = field(default_factory=dict)

    def next_delay(self, key: Hashable) -> float:
        count = self.failures.get(key, 0)
        self.failures[key] = count + 1
        return float(min(self.maximum, self.base * (2**count)))

    def forget(self, key: Hashable) -> None:
        self.failures.pop(key, None)


class WorkQueue(Generic[K]):
    def __init__(self, worker: Callable[[K], Awaitable[None]], workers: int, backoff: Backoff) -> None:
        self._worker = worker
        self._workers = workers
        self.backoff = backoff
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, key: K) -> None:
        """Work on `key` soon (once, however often it is added)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Work on `key` after `delay` seconds, unless something adds it sooner."""
        if key in self._timers or key in self._queued:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: K) -> float:
        """Schedule `key` again after its next backoff delay; returns the delay."""
        delay = self.backoff.next_delay(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset the backoff of `key` (after a success) and drop any pending retry."""
        self.backoff.forget(key)

    def __len__(self) -> int:
        return len(self._queued) + len(self._active)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"workqueue-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def join(self) -> None:
        """Wait until nothing is queued or active (timers not counted); for tests."""
        while self._queued or self._active:
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await self._worker(key)
            except Exception:
                # The worker handles its own errors; anything that escapes is a bug, but must not stop the queue.
                logger.exception("unexpected error while working on %s; retrying later", key)
                self.retry(key)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)
