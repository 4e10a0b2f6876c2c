"""`jupyternetes operator`: elect a leader, then run kopf with the controller until stopped or the lease is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

import kopf
import prometheus_client

from jupyternetes import __version__, jsonlog, kube
from jupyternetes.operator import metrics
from jupyternetes.operator.publish import publish_public_key
from jupyternetes.operator.controller import Controller
from jupyternetes.operator.handlers import build_registry, kopf_settings
from jupyternetes.operator.leader import LeaderElector
from jupyternetes.operator.settings import OperatorSettings

logger = logging.getLogger(__name__)

EXIT_LOST_LEASE = 3
EXIT_FAILED = 1


async def _first(*awaitables: asyncio.Future[object] | asyncio.Task[object]) -> None:
    await asyncio.wait(awaitables, return_when=asyncio.FIRST_COMPLETED)


async def run(settings: OperatorSettings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until the leader lease is lost (exit 3, to be restarted)."""
    config = kube.KubeConfig.load(settings.kubeconfig)
    identity = settings.identity or socket.gethostname()
    # The replica is named in the user agent, so the API server's audit log says which replica sent each request.
    agent = f"jupyternetes-operator/{__version__} ({identity})"
    api = kube.AsyncKube(config, max_connections=max(20, settings.workers * 2), user_agent=agent)
    api.on_response = metrics.count_request
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

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
            leading = asyncio.ensure_future(elector.leading.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await _first(leading, stopping)
            leading.cancel()
            stopping.cancel()
            if stop.is_set():
                return 0
            metrics.LEADER.set(1)

        controller = Controller(api, settings)
        namespaces = settings.watched_namespaces()
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
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None,
        ), name="kopf")
        # kopf takes over SIGINT/SIGTERM from here on and ends `operator` when one arrives.
        lost_wait = asyncio.ensure_future(lost.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await _first(operator, lost_wait, stopping)
        lost_wait.cancel()
        stopping.cancel()
        if not operator.done():
            stop_flag.set()
            await operator
        if not operator.cancelled() and operator.exception() is not None:
            logger.error("the operator stopped with an error; exiting so that it restarts",
                         exc_info=operator.exception())
            return EXIT_FAILED
        if lost.is_set():
            logger.error("the leader lease was lost; exiting so that this replica restarts as a candidate")
            return EXIT_LOST_LEASE
        return 0
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


def main(settings: OperatorSettings) -> int:
    jsonlog.configure_text_logging(log_format=settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too much at INFO
    return asyncio.run(run(settings))
