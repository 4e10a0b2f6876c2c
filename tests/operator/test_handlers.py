"""How the operator hands kopf's watch events to the controller (no cluster)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import kopf

from jupyternetes import kube
from jupyternetes.operator.handlers import build_registry, kopf_settings
from jupyternetes.operator.settings import OperatorSettings


class _Recording:
    """A controller stand-in that records the thread each event arrives on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def on_instance(self, *_: Any) -> None:
        self.threads.append(threading.get_ident())

    on_template = on_object = on_instance


def test_every_watch_handler_runs_on_the_event_loop_not_in_kopfs_thread_pool() -> None:
    # kopf runs a plain function in a thread pool; the cache and the work queue belong to the event loop.
    controller = _Recording()
    registry = build_registry(controller, kube.KubeConfig(server="https://127.0.0.1:1"))  # type: ignore[arg-type]
    handlers = list(registry._watching.get_all_handlers())
    assert len(handlers) == 4
    assert all(inspect.iscoroutinefunction(handler.fn) for handler in handlers)

    async def deliver() -> int:
        body = kopf.Body({"metadata": {"name": "x", "namespace": "default"}})
        for handler in handlers:
            await handler.fn(type="ADDED", body=body)
        return threading.get_ident()

    loop_thread = asyncio.run(deliver())
    assert controller.threads == [loop_thread] * 4


def test_kopf_does_not_copy_every_object_for_diffs_the_operator_never_reads() -> None:
    storage = kopf_settings(OperatorSettings()).persistence.diffbase_storage
    body = kopf.Body({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"big": ["x"] * 1000}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
