"""`jupyternetes webhook`: serve the admission webhook over TLS with uvicorn, beside an OPA server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from jupyternetes import eventloop, jsonlog, kube
from jupyternetes.webhook import audit_runs, policy
from jupyternetes.webhook.app import create_app
from jupyternetes.webhook.certs import CertificateManager
from jupyternetes.webhook.judge import Judge
from jupyternetes.webhook.lookup import CachedLookup
from jupyternetes.webhook.settings import WebhookSettings

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 120


class StartupRefused(RuntimeError):
    """The configuration is unsafe or unusable; the message says why and what to change."""


def check_configuration(settings: WebhookSettings, data: policy.PolicyData) -> None:
    if data.mode("images") == "enforce" and not data.allowed_images and not settings.development:
        raise StartupRefused(f"{settings.policy_dir / 'data.yaml'}: images.allowed is empty, so in enforce mode no pod "
                             "could ever run; list the allowed image repositories")


async def run(settings: WebhookSettings) -> None:
    data = policy.load_data(settings.policy_dir)
    check_configuration(settings, data)
    api = kube.AsyncKube(kube.KubeConfig.load(settings.kubeconfig))
    engine: policy.OpaServer | policy.NoPolicies = (
        policy.OpaServer(settings.opa_url, settings.opa_timeout_seconds) if settings.policy_engine == "opa"
        else policy.NoPolicies())
    # A list of every instance that outlives the API server's timeout for the review that asked serves nobody.
    lookup = CachedLookup(api, list_seconds=float(settings.timeout_seconds))
    lookup.start()
    judge = Judge(settings, data, engine, lookup)
    app = create_app(judge, lookup)
    # The periodic audit (docs/audit.md): once the caches are filled, then every audit_interval_seconds.
    audit_task: asyncio.Task[None] | None = None
    if settings.audit_interval_seconds > 0:
        auditor = audit_runs.PeriodicAudit(judge, lookup, api, settings, socket.gethostname())
        audit_task = asyncio.create_task(auditor.run(), name="audit")
    certs = CertificateManager(api, settings)
    tls: dict[str, str] = {}
    if not settings.insecure_http:
        cert_file, key_file = await certs.prepare()
        tls = {"ssl_certfile": str(cert_file), "ssl_keyfile": str(key_file)}
    # Keep idle connections open longer than the API server's client does (Go's 90s), or a connection it reuses
    # just as we close it fails the admission call (failurePolicy Fail turns that into a refused request).
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=KEEP_ALIVE_SECONDS, **tls)  # type: ignore[arg-type]
    config.load()
    cert_task: asyncio.Task[None] | None = None
    if config.ssl is not None:
        certs.attach(config.ssl)
        cert_task = asyncio.create_task(certs.run(), name="certificates")
    logger.info("serving admission reviews on %s:%d (%s)", settings.host, settings.port,
                "HTTP, development only" if settings.insecure_http else "HTTPS")
    certs.discard_files()  # loaded into the context above (or never to be used)
    try:
        await uvicorn.Server(config).serve()
    finally:
        for task in (cert_task, audit_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await lookup.stop()
        await engine.aclose()
        await api.aclose()


def main(settings: WebhookSettings) -> int:
    jsonlog.configure_text_logging(log_format=settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        eventloop.run(run(settings), settings.event_loop)
    except StartupRefused as error:
        logger.error("refusing to start: %s", error)
        return 2
    return 0
