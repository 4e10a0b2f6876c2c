"""`jupyternetes operator`: elect a leader, then run kopf with the controller until stopped or the lease is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Final

# kopf recognises the objects of the kubernetes, kubernetes_asyncio and pykube clients by importing them when they are
# installed (kubernetes_asyncio alone: 4 s and 65 MiB of generated code, present wherever KubeSpawner is). The
# operator hands kopf plain dicts only, so it never needs them: mark them absent before kopf looks.
for _client in ("kubernetes", "kubernetes_asyncio", "pykube"):
    sys.modules.setdefault(_client, None)  # type: ignore[arg-type]  # None: "import fails", as Python documents

import kopf  # noqa: E402 - after the line above
import prometheus_client

from jupyternetes import __version__, jsonlog, kube
from jupyternetes.operator import health, metrics
from jupyternetes.operator.controller import Controller
from jupyternetes.operator.handlers import build_registry, kopf_settings
from jupyternetes.operator.leader import LeaderElector
from jupyternetes.operator.publish import publish_public_key
from jupyternetes.operator.settings import OperatorSettings

logger = logging.getLogger(__name__)

EXIT_LOST_LEASE = 3
EXIT_FAILED = 1


async def _first(*events: asyncio.Event, task: asyncio.Task[object] | None = None,
                 timeout: float | None = None) -> None:
    """Until one of `events` is set, `task` ends or `timeout` passes (the task is left running)."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait([*waits, *([task] if task else [])], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def run(settings: OperatorSettings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until the leader lease is lost (exit 3, to be restarted)."""
    config = kube.KubeConfig.load(settings.kubeconfig)
    identity = settings.identity or socket.gethostname()
    # The replica is named in the user agent, so the API server's audit log says which replica sent each request.
    agent = f"jupyternetes-operator/{__version__} ({identity})"
    api = kube.AsyncKube(config, max_connections=settings.connections(), user_agent=agent)
    api.on_response = metrics.count_request
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port)

    stop = asyncio.Event()
    _stop_on_signals(stop)

    failures = health.WatchFailures()
    failures.install()
    server = health.HealthServer(failures, settings.health_port) if settings.health_port else None
    if server is not None:
        await server.start()

    await publish_public_key(api, settings)

    lost = asyncio.Event()
    elector: LeaderElector | None = None
    election: asyncio.Task[None] | None = None
    try:
        if settings.leader_election:
            # The lease has a client of its own: the work client's writes are fenced by the lease (see leader.py).
            lease_api = kube.AsyncKube(config, max_connections=2, user_agent=agent)
            elector = LeaderElector(lease_api, settings.lease_namespace, settings.lease_name, identity,
                                    settings.lease_duration_seconds, settings.lease_renew_seconds)
            api.before_write = elector.fence
            election = asyncio.create_task(elector.run(lost), name="leader-election")
            logger.info("waiting to become the leader (lease %s/%s) as %s", settings.lease_namespace,
                        settings.lease_name, identity)
            await _first(elector.leading, stop)
            if stop.is_set():
                return 0
            metrics.LEADER.set(1)

        return await _serve(api, config, settings, identity, failures, lost, stop)
    finally:
        metrics.LEADER.set(0)
        if election is not None:
            election.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await election
        if elector is not None:
            if not lost.is_set():
                await elector.release()
            await elector.api.aclose()
        await api.aclose()
        failures.uninstall()
        if server is not None:
            await server.stop()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


#: The logger and the words with which kopf says that it was sent SIGINT or SIGTERM (kopf/_core/reactor/running).
KOPF_RUNNING_LOGGER: Final = "kopf._core.reactor.running"
_KOPF_SIGNALLED: Final = re.compile(r"^Signal (SIGINT|SIGTERM) is received")


class KopfSignals(logging.Handler):
    """Sets `stop` when kopf says it received SIGINT or SIGTERM. kopf takes the signals over while it runs; a signal
    that reaches it just as it stops for another reason (a failed watch) must still stop the process."""

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__(level=logging.INFO)
        self.stop = stop

    def emit(self, record: logging.LogRecord) -> None:
        if _KOPF_SIGNALLED.match(record.getMessage()):
            self.stop.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        logger = logging.getLogger(KOPF_RUNNING_LOGGER)
        level = logger.level
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)  # kopf says it at INFO
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


async def _serve(api: kube.AsyncKube, config: kube.KubeConfig, settings: OperatorSettings, identity: str,
                 failures: health.WatchFailures, lost: asyncio.Event, stop: asyncio.Event) -> int:
    """Run kopf with the controller until stopped (0), the lease is lost (3) or kopf fails (1). When one of kopf's
    watches fails for good, stop kopf, wait (backing off) until the kind can be listed again, and start it over."""
    delay = settings.retry_base_seconds
    namespaces = settings.watched_namespaces()
    while True:
        controller = Controller(api, settings)
        stop_flag = asyncio.Event()
        operator = asyncio.create_task(kopf.operator(
            registry=build_registry(controller, config),
            settings=kopf_settings(settings),
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            stop_flag=stop_flag,
            # Our own identity: kopf's default asks the password database for the user, and a container's
            # numeric user (65532) has no entry there.
            identity=identity,  # type: ignore[arg-type]  # kopf's Identity is a NewType of str
        ), name="kopf")
        # kopf takes over SIGINT/SIGTERM from here on and ends `operator` when one arrives (KopfSignals then sets
        # `stop`). Once anything ends this wait, the signals are ours again before kopf is told to stop, so that a
        # signal while it stops is not lost to kopf's handler.
        with KopfSignals(stop).installed():
            await _first(lost, stop, failures.failed, task=operator)
        _stop_on_signals(stop)
        if not operator.done():
            stop_flag.set()
            await asyncio.wait([operator])  # its error, if any, is looked at below
        if lost.is_set():
            logger.error("the leader lease was lost; exiting so that this replica restarts as a candidate")
            return EXIT_LOST_LEASE
        if stop.is_set():
            return 0
        if not failures.failed.is_set():
            if not operator.cancelled() and operator.exception() is not None:
                logger.error("the operator stopped with an error; exiting so that it restarts",
                             exc_info=operator.exception())
                return EXIT_FAILED
            return 0
        # kopf gave up on a watch after its retries (and stopped): not a reason to exit, which would only start a
        # crash loop until RBAC is fixed; wait here, ready to go on, and say why in /readyz.
        if not operator.cancelled():
            operator.exception()  # kopf's error is the watch's, said below; retrieved, so asyncio does not repeat it
        logger.error("%s; nothing of that kind is seen until it is watched again, so the operator's watches restart "
                     "as soon as it can be listed (see /readyz)", "; ".join(failures.describe()))
        while errors := await health.listable(api, failures):
            logger.error("still cannot watch: %s; trying again in %.0fs (check the operator's RBAC)",
                         "; ".join(errors), delay)
            await _first(lost, stop, timeout=delay)
            if lost.is_set():
                return EXIT_LOST_LEASE
            if stop.is_set():
                return 0
            delay = min(delay * 2, settings.retry_max_seconds)
        logger.info("the failed watches can list again; restarting the operator's watches")
        failures.clear()


def main(settings: OperatorSettings) -> int:
    jsonlog.configure_text_logging(log_format=settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much at INFO
    return asyncio.run(run(settings))
