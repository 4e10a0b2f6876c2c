"""SIGTERM and SIGINT stop the operator whoever holds the signals: kopf takes them over while it runs, and a signal
it receives just as it stops for another reason (a failed watch, main._serve) must still end the process. Real kopf,
no cluster: its login points at a closed port, so it only retries its first requests until it is stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import kopf
import pytest

from jupyternetes.operator.main import KOPF_RUNNING_LOGGER, KopfSignals, _first


async def _kopf_receives_sigterm() -> bool:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)  # type: ignore[misc,untyped-decorator]
    def login(**_: object) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server="https://127.0.0.1:1", token="not-used")

    stop, stop_flag, ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(kopf.operator(registry=registry, standalone=True, clusterwide=True,
                                                 stop_flag=stop_flag, ready_flag=ready,
                                                 identity="test"))  # type: ignore[arg-type]
    try:
        with KopfSignals(stop).installed():
            await asyncio.wait_for(ready.wait(), timeout=60)  # kopf installs its signal handlers before this
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                pytest.fail("kopf has not taken SIGTERM over; sending it would end the test run")
            os.kill(os.getpid(), signal.SIGTERM)
            await _first(stop, task=operator, timeout=30)
        return stop.is_set()
    finally:
        stop_flag.set()
        await asyncio.wait([operator], timeout=30)


def test_a_sigterm_that_kopf_receives_sets_the_operators_stop() -> None:
    assert asyncio.run(_kopf_receives_sigterm()), (
        "kopf received SIGTERM but the operator's stop was not set (has kopf's log line changed?)")


def test_only_kopfs_words_for_a_signal_stop_it() -> None:
    stop = asyncio.Event()
    handler = KopfSignals(stop)
    logger = logging.getLogger(KOPF_RUNNING_LOGGER)

    def say(message: str) -> None:
        handler.emit(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, (), None))

    say("Stop-flag is raised. Operator is stopping.")
    say("Signal SIGHUP is received. Operator is stopping.")
    assert not stop.is_set()
    say("Signal SIGINT is received. Operator is stopping.")
    assert stop.is_set()


def test_the_handler_hears_kopf_even_when_info_is_not_logged() -> None:
    logger = logging.getLogger(KOPF_RUNNING_LOGGER)
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        stop = asyncio.Event()
        with KopfSignals(stop).installed():
            logger.info("Signal %s is received. Operator is stopping.", "SIGTERM")
        assert stop.is_set()
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(before)
