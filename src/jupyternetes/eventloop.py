"""Running a component's event loop: uvloop's (libuv; its sockets and TLS cost less CPU per request than asyncio's
own, see docs/benchmarks.md) or asyncio's."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

EventLoop = Literal["uvloop", "asyncio"]


def run(main: Coroutine[Any, Any, T], loop: EventLoop = "uvloop") -> T:
    """Run `main` to its end on a new event loop of the kind named, as `asyncio.run` does."""
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 - only where it is chosen

        return uvloop.run(main)
    return asyncio.run(main)
