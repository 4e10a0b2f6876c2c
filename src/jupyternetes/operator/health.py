"""The operator's health: which of its watches failed, why, and the /healthz and /readyz endpoints that say so.

kopf retries a watch through dropped connections and expired resource versions by itself, and a refused request
(403 Forbidden after an RBAC change) nine times over about a minute; then it gives up on that watch and stops as a
whole, which would only make the process exit and crash-loop until RBAC is fixed. This module catches kopf's log
record of the watch that failed (`WatchFailures` is a logging handler on kopf's orchestration logger), counts it in
`jupyternetes_operator_watch_failures_total` and names the watch and its error in /readyz; `main` keeps the process
(and its leader lease) and starts kopf again once a list of the failed kind succeeds (see `listable`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from jupyternetes import constants, kube
from jupyternetes.operator import metrics

#: The logger through which kopf reports a watcher task that ended with an error (kopf/_core/reactor/orchestration).
KOPF_ORCHESTRATION_LOGGER: Final = "kopf._core.reactor.orchestration"
_FAILED: Final = re.compile(r"^Watcher for (?P<resource>[^@\s]+)@(?P<namespace>\S+) has failed: (?P<error>.*)$",
                            re.DOTALL)

#: The kinds the operator watches, by kopf's name for them (plural.version[.group]).
WATCHED: Final[dict[str, kube.ResourceType]] = {
    f"{constants.INSTANCE_PLURAL}.{constants.VERSION}.{constants.GROUP}": kube.INSTANCE,
    f"{constants.TEMPLATE_PLURAL}.{constants.VERSION}.{constants.GROUP}": kube.TEMPLATE,
    "pods.v1": kube.POD,
    "persistentvolumeclaims.v1": kube.PVC,
}


@dataclass(frozen=True)
class Failure:
    resource: str
    namespace: str | None
    error: str
    since: float

    def describe(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "in all namespaces"
        return f"the watch of {self.resource} {where} failed {time.time() - self.since:.0f}s ago: {self.error}"


class WatchFailures(logging.Handler):
    """Failed watches, from kopf's log records; `failed` is set while there is at least one."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.failures: dict[tuple[str, str | None], Failure] = {}
        self.failed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        match = _FAILED.match(record.getMessage())
        if match is None:
            return
        namespace = None if match["namespace"].lower() == "none" else match["namespace"]
        exc = record.exc_info[1] if record.exc_info else None
        status, args = getattr(exc, "status", None), getattr(exc, "args", ())
        if isinstance(status, int) and args and isinstance(args[0], str):
            error = f"{status} {args[0]}"  # kopf's APIError: the HTTP status and the API server's message
        else:
            error = (match["error"].strip().splitlines() or ["unknown error"])[0]
        error = error[:500]
        self.failures[(match["resource"], namespace)] = Failure(match["resource"], namespace, error, time.time())
        metrics.WATCH_FAILURES.labels(match["resource"]).inc()
        self.failed.set()

    def install(self) -> None:
        logging.getLogger(KOPF_ORCHESTRATION_LOGGER).addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger(KOPF_ORCHESTRATION_LOGGER).removeHandler(self)

    def clear(self) -> None:
        self.failures.clear()
        self.failed.clear()

    def describe(self) -> list[str]:
        return [f.describe() for f in sorted(self.failures.values(), key=lambda f: (f.resource, f.namespace or ""))]


async def listable(api: kube.AsyncKube, failures: WatchFailures) -> list[str]:
    """Errors of listing, once, each kind whose watch failed (the request kopf starts a watch with); empty when every
    one can be listed again, so the watches are worth starting again."""
    errors = []
    for resource, namespace in list(failures.failures):
        rt = WATCHED.get(resource)
        if rt is None:
            continue
        try:
            await api.list(rt, namespace, limit=1)
        except kube.ApiError as error:
            errors.append(f"listing {resource}: {error}")
    return errors


class HealthServer:
    """/healthz: the process serves requests. /readyz: every watch works (503 naming those that failed)."""

    def __init__(self, failures: WatchFailures, port: int) -> None:
        self.failures = failures
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        failed = self.failures.describe()
        if failed:
            return web.Response(status=503, text="not ready:\n" + "".join(f"- {f}\n" for f in failed))
        return web.Response(text="ok\n")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", self.port).start()  # noqa: S104 - probed by the kubelet

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
