"""POST /mutate: fill in secure defaults in templates' pods, reported as warnings. (Pods rendered from a stored
template already carry them; the validating webhook refuses any pod that does not.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse

from jupyternetes import models
from jupyternetes.webhook import defaults, review
from jupyternetes.webhook.judge import Judge
from jupyternetes.webhook.routes.common import handle

router = APIRouter()


async def _decide(http: HttpRequest, request: review.Request) -> dict[str, Any]:
    judge: Judge = http.app.state.judge
    if request.resource.resource != "jupyternotebooktemplates" or request.operation not in ("CREATE", "UPDATE"):
        http.state.rules = [{"rule": "webhook-rules", "mode": "enforce", "path": "",
                             "message": f"the mutating webhook does not fill in {request.resource.resource}"}]
        return review.response(request.uid, False, code=400, message=(
            f"the Jupyternetes mutating webhook only fills in templates, not {request.operation} of "
            f"{request.resource.resource}; check the webhook configuration's rules"))
    try:
        template = models.parse_template(request.object)
    except models.InvalidObjectError as error:
        http.state.rules = [{"rule": "schema", "mode": "enforce", "path": "", "message": str(error)}]
        return review.response(request.uid, False, code=400, message=f"{error} (rule schema)")
    patch: list[dict[str, Any]] = []
    warnings: list[str] = []
    pod_defaults = judge.template_defaults(template.metadata.namespace or request.namespace,
                                           template.metadata.name or request.name)
    for index, pod in enumerate(template.spec.pods):
        spec, changes = defaults.apply(pod.spec, pod_defaults, f"spec.pods[{index}].spec")
        if changes:
            patch.append({"op": "replace", "path": f"/spec/pods/{index}/spec", "value": spec})
            warnings += changes
    warnings = [f"Jupyternetes default: {change}" for change in warnings]
    return review.response(request.uid, True, warnings=warnings, patch=patch or None)


@router.post("/mutate")
async def mutate(http: HttpRequest) -> JSONResponse:
    return await handle(http, "mutating", _decide)
