"""The shape shared by both admission endpoints (after Gatekeeper's handler): parse and check the review (a malformed
one gets a 4xx answer, never a 500 and never "allowed"), decide, answer with every message, and record the outcome
and latency in a `finally`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse

from jupyternetes import kube
from jupyternetes.webhook import decisions, metrics, review


class Answer(JSONResponse):
    """JSON with every non-ASCII character escaped: a string from the review that is not valid Unicode (a lone
    surrogate in a name or uid) is answered as it came, instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class TooLarge(ValueError):
    pass


async def _body(http: HttpRequest) -> bytes:
    """The request body, read no further than the size limit (a body without a length is not read whole first)."""
    length = http.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > review.MAX_BODY_BYTES:
        raise TooLarge(f"the request body is {length} bytes; at most {review.MAX_BODY_BYTES} are accepted")
    chunks: list[bytes] = []
    size = 0
    async for chunk in http.stream():
        size += len(chunk)
        if size > review.MAX_BODY_BYTES:
            raise TooLarge(f"the request body is more than {review.MAX_BODY_BYTES} bytes, the most accepted")
        chunks.append(chunk)
    return b"".join(chunks)

logger = logging.getLogger("jupyternetes.webhook.admission")

Decide = Callable[[HttpRequest, review.Request], Awaitable[dict[str, Any]]]

#: How long a decision may take when the judge has no settings (the configurations' default timeoutSeconds).
DEFAULT_DEADLINE_SECONDS: Final = 5.0
#: What is kept of the API server's timeout for the answer to reach it.
ANSWER_MARGIN_SECONDS: Final = 0.5

#: What each webhook judges: resource -> kind label for metrics.
JUDGED: Final = {"jupyternotebooktemplates": "template", "jupyternotebookinstances": "instance", "pods": "pod",
                 "persistentvolumeclaims": "pvc", "secrets": "secret", "services": "service",
                 "configmaps": "configmap"}


def _rule(rule: str, answer: dict[str, Any]) -> dict[str, str]:
    """A rule of the webhook itself for the decision record, with the message of the answer."""
    return {"rule": rule, "mode": "enforce", "path": "", "message": answer["response"]["status"]["message"]}


def _deadline(http: HttpRequest) -> float:
    """How long a decision may take: a little less than the API server's timeout for the call (`timeout_seconds`),
    so that the denial reaches it."""
    settings = getattr(getattr(http.app.state, "judge", None), "settings", None)
    timeout = float(getattr(settings, "timeout_seconds", DEFAULT_DEADLINE_SECONDS))
    return max(timeout - ANSWER_MARGIN_SECONDS, ANSWER_MARGIN_SECONDS)


async def _refuse(webhook: str, request: review.Request, code: int, rule: str, message: str) -> Answer:
    """A refusal the webhook makes itself (not a verdict of its rules): answered with `code`, recorded as `rule`."""
    answer = review.response(request.uid, False, code=code, message=message)
    await decisions.record(webhook, request, answer, extra_rules=[_rule(rule, answer)])
    return Answer(answer)


def _error(status: int, message: str) -> JSONResponse:
    return Answer({"error": message}, status_code=status)


async def handle(http: HttpRequest, webhook: str, decide: Decide) -> JSONResponse:
    started = time.perf_counter()
    kind, outcome, dry_run = "unknown", "error", "false"
    try:
        try:
            body = await _body(http)
        except TooLarge as error:
            outcome = "malformed"
            return _error(413, str(error))
        try:
            parsed = review.parse(body)
        except review.MalformedReview as error:
            outcome = "malformed"
            if error.uid:
                decisions.record_malformed(webhook, error.uid, str(error))
                return Answer(review.response(error.uid, False, message=f"malformed AdmissionReview: {error}",
                                                    code=400))
            return _error(400, str(error))
        request = parsed.request
        kind = JUDGED.get(request.resource.resource, "unknown")
        if kind == "unknown":
            outcome = "denied"
            return await _refuse(webhook, request, 400, "webhook-rules", (
                f"the Jupyternetes {webhook} webhook does not judge {request.resource.resource!r}; check the webhook "
                "configuration's rules"))
        deadline = _deadline(http)
        try:
            # The API server stops waiting after its timeout; a review still queued then (for one of the client's
            # connections, say) gives up its place instead of doing work nobody will read.
            async with asyncio.timeout(deadline):
                answer = await decide(http, request)
        except TimeoutError:
            logger.warning("%s webhook: could not judge %s %s/%s (uid %s) within %g s", webhook, kind,
                           request.namespace, request.name, request.uid, deadline)
            outcome = "error"
            return await _refuse(webhook, request, 503, "timeout", (
                f"the Jupyternetes webhook could not judge this request within {deadline:g} s (the API server's "
                "timeout for it) and refuses it; try again"))
        except Exception as error:  # noqa: BLE001 - an unexpected error must deny, never admit and never 500
            outcome = "error"
            if isinstance(error, kube.ApiError) and kube.transient(error):
                # The API server did not answer what the decision needs: a moment's trouble, so the caller may ask
                # again (a 500 says that the webhook itself failed, which asking again would not mend).
                logger.warning("%s webhook: could not read what judging %s %s/%s needs (uid %s): %s", webhook, kind,
                               request.namespace, request.name, request.uid, error)
                return await _refuse(webhook, request, 503, "api-unavailable", (
                    "the Jupyternetes webhook could not read what it needs from the API server to judge this "
                    "request and refuses it; try again"))
            logger.exception("%s webhook: error judging %s %s/%s (uid %s)", webhook, kind, request.namespace,
                             request.name, request.uid)
            return await _refuse(webhook, request, 500, "internal-error", (
                "the Jupyternetes webhook hit an internal error while judging this request and refuses it; "
                f"see the webhook's log for uid {request.uid}"))
        outcome = "allowed" if answer["response"]["allowed"] else "denied"
        dry_run = "true" if request.dry_run else "false"
        # One record per decision (docs/audit.md), with the rules of the verdict the route left on the request.
        await decisions.record(webhook, request, answer, verdict=getattr(http.state, "verdict", None),
                               extra_rules=getattr(http.state, "rules", None),
                               lookup=getattr(http.app.state.judge, "lookup", None))
        return Answer(answer)
    finally:
        metrics.DECISIONS.labels(webhook, kind, outcome, dry_run).inc()
        metrics.LATENCY.labels(webhook).observe(time.perf_counter() - started)

