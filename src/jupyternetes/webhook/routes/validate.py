"""POST /validate: the validating webhook."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse

from jupyternetes.webhook import review
from jupyternetes.webhook.judge import Judge, Verdict
from jupyternetes.webhook.routes.common import handle

router = APIRouter()
logger = logging.getLogger("jupyternetes.webhook.validate")


async def _decide(http: HttpRequest, request: review.Request) -> dict[str, Any]:
    judge: Judge = http.app.state.judge
    resource = request.resource.resource
    verdict: Verdict
    if resource == "jupyternotebooktemplates":
        verdict = await judge.template(request)
    elif resource == "jupyternotebookinstances":
        verdict = await judge.instance(request)
    else:
        verdict = await judge.workload(request)
    http.state.verdict = verdict  # for the decision record (routes/common.py)
    for finding in verdict.findings:
        if finding.mode == "audit":
            logger.warning("audit: %s: %s (uid %s)", verdict.subject, finding.describe(), request.uid)
    if not verdict.allowed:
        logger.info("denied %s for %s%s: %s", verdict.subject, request.user_info.username,
                    " (dry run)" if request.dry_run else "", verdict.message())
        return review.response(request.uid, False, message=verdict.message(), code=503 if verdict.undecided else 403,
                               warnings=verdict.all_warnings(), audit=verdict.audit())
    return review.response(request.uid, True, warnings=verdict.all_warnings(), audit=verdict.audit())


@router.post("/validate")
async def validate(http: HttpRequest) -> JSONResponse:
    return await handle(http, "validating", _decide)
