"""The admission.k8s.io/v1 AdmissionReview wire format: parsing requests strictly, and building responses."""

from __future__ import annotations

import base64
import json
from typing import Any, Final, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
#: Deepest nesting accepted: a review of a template is about 25 levels deep; this leaves room and keeps every walk of
#: the document far from Python's recursion limit.
MAX_DEPTH: Final = 100
WARNING_MAX: Final = 256


class MalformedReview(ValueError):
    """The request is not an AdmissionReview we can judge; the message says what is wrong. `uid` is the request's
    uid when the body was JSON and carried one (so the answer can be a denial of that request)."""

    def __init__(self, message: str, uid: str = "") -> None:
        super().__init__(message)
        self.uid = uid


class GroupVersionKind(BaseModel):
    group: str = ""
    version: str
    kind: str


class GroupVersionResource(BaseModel):
    group: str = ""
    version: str
    resource: str


class UserInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)


class Request(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    resource: GroupVersionResource
    sub_resource: str = Field(default="", alias="subResource")
    name: str = ""
    namespace: str = ""
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    user_info: UserInfo = Field(default_factory=UserInfo, alias="userInfo")
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = Field(default=None, alias="oldObject")
    dry_run: bool = Field(default=False, alias="dryRun")


class Review(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    request: Request


def _depth(document: Any) -> int:
    """How deeply `document` nests, counted without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def parse(body: bytes) -> Review:
    """A validated review, or `MalformedReview` explaining which part is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedReview(f"the request body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedReview(f"the request body is not JSON: {error}") from None
    except RecursionError:
        raise MalformedReview(f"the request body nests more deeply than {MAX_DEPTH} levels") from None
    uid = _uid(document)
    if _depth(document) > MAX_DEPTH:
        raise MalformedReview(f"the request body nests more deeply than {MAX_DEPTH} levels; no Kubernetes object "
                              "the webhook judges does", uid)
    if not isinstance(document, dict):
        raise MalformedReview("the request body is not a JSON object")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != KIND:
        raise MalformedReview(f"expected apiVersion {API_VERSION} and kind {KIND}, got apiVersion "
                              f"{_short(document.get('apiVersion'))} and kind {_short(document.get('kind'))}", uid)
    try:
        parsed = Review.model_validate(document)
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:10])
        raise MalformedReview(f"not a valid AdmissionReview: {problems}", uid) from None
    request = parsed.request
    if request.operation in ("CREATE", "UPDATE") and request.object is None:
        raise MalformedReview(f"a {request.operation} review must carry the object", uid)
    if request.operation == "UPDATE" and request.old_object is None:
        raise MalformedReview("an UPDATE review must carry the old object", uid)
    return parsed


def _uid(document: Any) -> str:
    request = document.get("request") if isinstance(document, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


#: The status reasons a refusal can carry: 403 for a decision, 503 when no decision could be made (the policy engine
#: did not answer), so that a client can tell "no" from "not now" and retry only the latter.
REASONS: Final = {403: "Forbidden", 503: "ServiceUnavailable"}


def response(uid: str, allowed: bool, *, message: str = "", code: int | None = None, warnings: list[str] | None = None,
             patch: list[dict[str, Any]] | None = None, audit: dict[str, str] | None = None) -> dict[str, Any]:
    """A whole AdmissionReview response document."""
    body: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        code = code or 403
        body["status"] = {"code": code, "reason": REASONS.get(code, "Forbidden"), "message": message}
    elif message:
        body["status"] = {"code": 200, "message": message}
    if warnings:
        # Warnings travel in HTTP headers: one line each. Past 4096 characters in all, the API server cuts each
        # warning to 256 characters, so they are kept short here.
        body["warnings"] = [w.replace("\n", " ")[:WARNING_MAX] for w in warnings]
    if patch:
        body["patchType"] = "JSONPatch"
        body["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if audit:
        body["auditAnnotations"] = audit
    return {"apiVersion": API_VERSION, "kind": KIND, "response": body}
