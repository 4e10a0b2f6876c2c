"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi import Request as HttpRequest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(http: HttpRequest, response: Response) -> dict[str, str]:
    lookup = http.app.state.lookup
    if lookup is None:
        return {"status": "ready"}
    failing = lookup.failing(http.app.state.judge.settings.watch_failure_seconds)
    if not lookup.synced:
        response.status_code = 503
        return {"status": "; ".join(["waiting for the instance and template caches", *failing])}
    if failing:
        response.status_code = 503
        return {"status": "; ".join(failing)}
    return {"status": "ready"}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
