"""POST /mutate: fill in secure defaults in templates' pods, reported as warnings. (Pods rendered from a stored
template already carry them; the validating webhook refuses any pod that does not.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse

from jupyternetes.webhook import defaults, review
from jupyternetes.webhook.judge import Judge
from jupyternetes.webhook.routes.common import handle

router = APIRouter()


async def _decide(http: HttpRequest, request: review.Request) -> dict[str, Any]:
    judge: Judge = http.app.state.judge
    obj = request.object or {}
    patch: list[dict[str, Any]] = []
    warnings: list[str] = []
    spec = obj.get("spec")
    pods = spec.get("pods") if isinstance(spec, dict) else None
    if request.resource.resource == "jupyternotebooktemplates" and isinstance(pods, list):
        for index, pod in enumerate(pods):
            if not isinstance(pod, dict) or not isinstance(pod.get("spec"), dict):
                continue  # the validating webhook and the schema explain what is wrong
            spec, changes = defaults.apply(pod["spec"], judge.pod_defaults, f"spec.pods[{index}].spec")
            if changes:
                patch.append({"op": "replace", "path": f"/spec/pods/{index}/spec", "value": spec})
                warnings += changes
    warnings = [f"Jupyternetes default: {change}" for change in warnings]
    return review.response(request.uid, True, warnings=warnings, patch=patch or None)


@router.post("/mutate")
async def mutate(http: HttpRequest) -> JSONResponse:
    return await handle(http, "mutating", _decide)
