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
    if lookup is not None and not lookup.synced:
        response.status_code = 503
        return {"status": "waiting for the instance and template caches"}
    return {"status": "ready"}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
