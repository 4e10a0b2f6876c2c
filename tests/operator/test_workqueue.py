"""The keyed work queue: one worker per key at a time, collapsing adds, re-running keys added while active,
per-key exponential backoff."""

from __future__ import annotations

import asyncio

from jupyternetes.operator.workqueue import Backoff, WorkQueue


async def test_repeated_adds_collapse_into_one_run() -> None:
    runs: list[str] = []

    async def work(key: str) -> None:
        runs.append(key)

    queue: WorkQueue[str] = WorkQueue(work, workers=2, backoff=Backoff(1, 10))
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    queue.start()
    await queue.join()
    await queue.stop()
    assert sorted(runs) == ["a", "b"]


async def test_a_key_is_never_worked_on_twice_at_once_and_runs_again_if_added_meanwhile() -> None:
    active: set[str] = set()
    overlaps = 0
    runs = 0
    release = asyncio.Event()
    started = asyncio.Event()

    async def work(key: str) -> None:
        nonlocal overlaps, runs
        if key in active:
            overlaps += 1
        active.add(key)
        runs += 1
        started.set()
        if runs == 1:
            await release.wait()
        active.discard(key)

    queue: WorkQueue[str] = WorkQueue(work, workers=4, backoff=Backoff(1, 10))
    queue.start()
    queue.add("a")
    await asyncio.wait_for(started.wait(), 5)
    queue.add("a")
    queue.add("a")
    for _ in range(20):  # every idle worker gets its turn on the loop (nothing here waits on time)
        await asyncio.sleep(0)
    assert runs == 1
    release.set()
    await queue.join()
    await queue.stop()
    assert overlaps == 0
    assert runs == 2


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(base=1, maximum=5)
    assert [backoff.next_delay("k") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert backoff.next_delay("other") == 1
    backoff.forget("k")
    assert backoff.next_delay("k") == 1


async def test_add_after_runs_later_and_an_add_runs_it_sooner() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    ran = asyncio.Event()

    async def work(key: str) -> None:
        runs.append(loop.time() - start)
        ran.set()

    queue: WorkQueue[str] = WorkQueue(work, workers=1, backoff=Backoff(1, 10))
    queue.start()
    queue.add_after("a", 0.2)
    await asyncio.wait_for(ran.wait(), 5)
    assert len(runs) == 1 and runs[0] >= 0.2
    queue.add_after("a", 10)
    queue.add("a")
    await queue.join()
    await queue.stop()
    assert len(runs) == 2 and runs[1] < 1


async def test_an_escaping_error_is_retried_and_does_not_kill_the_worker() -> None:
    calls = 0
    again = asyncio.Event()

    async def work(key: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug")
        again.set()

    queue: WorkQueue[str] = WorkQueue(work, workers=1, backoff=Backoff(0.05, 1))
    queue.start()
    queue.add("a")
    await asyncio.wait_for(again.wait(), 5)  # retried after the backoff, by the same (still living) worker
    await queue.stop()
    assert calls == 2
