"""The FastAPI application: the admission routes, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI

from jupyternetes.webhook.judge import Judge
from jupyternetes.webhook.lookup import CachedLookup
from jupyternetes.webhook.routes import health, mutate, validate


def create_app(judge: Judge, lookup: CachedLookup | None = None) -> FastAPI:
    app = FastAPI(title="Jupyternetes admission webhook", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.judge = judge
    app.state.lookup = lookup
    app.include_router(validate.router)
    app.include_router(mutate.router)
    app.include_router(health.router)
    return app
