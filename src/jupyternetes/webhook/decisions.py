"""One JSON record per admission decision (allow, warn or deny), on the `jupyternetes.decisions` logger: who asked,
for what, from which template, with which images, which rules fired and what the answer was (docs/audit.md).

Only names, images, rules and the messages already sent back to the API server go in: never an object's body, so a
Secret's data, a sealed variable or a ConfigMap's contents cannot reach the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Final, Protocol

from jupyternetes import constants, entitlements, jsonlog, models
from jupyternetes.webhook.judge import Verdict
from jupyternetes.webhook.review import Request

LOGGER: Final = "jupyternetes.decisions"
TYPE: Final = "admission-decision"
COMPONENT: Final = "jupyternetes-webhook"
#: Longest message kept per rule, and most warnings kept per record: a record stays one readable line.
MAX_MESSAGE: Final = 1000
MAX_WARNINGS: Final = 20
#: Most images, rules and groups kept per record (the rest counted in `truncated`): a record stays well under the
#: 16 KiB at which container runtimes split a log line.
MAX_ITEMS: Final = 20
MAX_NAME: Final = 256
_KINDS: Final = {constants.TEMPLATE_PLURAL: constants.TEMPLATE_KIND, constants.INSTANCE_PLURAL: constants.INSTANCE_KIND}

log: logging.Logger = jsonlog.logger(LOGGER)


#: How long a record may wait to read an instance's template for its images (it is written without them after).
TEMPLATE_READ_SECONDS: Final = 1.0


class TemplateLookup(Protocol):
    async def template(self, namespace: str, name: str) -> dict[str, Any] | None: ...


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def template_images(template: Any) -> list[str]:
    """Every image a template's pods name (placeholders as written)."""
    pods = _mapping(_mapping(template).get("spec")).get("pods") or []
    return sorted({image for pod in pods if isinstance(pod, Mapping) for image in models.pod_images(pod.get("spec"))})


def _ref(namespace: Any, name: Any) -> dict[str, str] | None:
    return {"namespace": _text(namespace), "name": _text(name)} if _text(name) else None


def context(kind: str, obj: Mapping[str, Any] | None, namespace: str, name: str = "") -> dict[str, Any]:
    """The template, instance, hub user and images an object is about, from the object alone (`name`: the request's,
    for a template DELETE that carries no old object)."""
    obj = _mapping(obj)
    meta = _mapping(obj.get("metadata"))
    namespace = _text(meta.get("namespace")) or namespace
    labels, annotations = _mapping(meta.get("labels")), _mapping(meta.get("annotations"))
    if kind == constants.TEMPLATE_KIND:
        return {"template": _ref(namespace, meta.get("name") or name), "instance": None, "hub_user": None,
                "images": template_images(obj)}
    if kind == constants.INSTANCE_KIND:
        template = _mapping(_mapping(obj.get("spec")).get("template"))
        return {"template": _ref(_text(template.get("namespace")) or namespace, template.get("name")),
                "instance": _ref(namespace, meta.get("name")), "hub_user": entitlements.hub_user(obj), "images": []}
    template_namespace = labels.get(constants.LABEL_TEMPLATE_NAMESPACE) or namespace
    return {"template": _ref(template_namespace, labels.get(constants.LABEL_TEMPLATE)),
            "instance": _ref(namespace, annotations.get(constants.ANNOTATION_INSTANCE_NAME)), "hub_user": None,
            "images": sorted(set(models.pod_images(obj.get("spec")))) if kind == "Pod" else []}


def outcome(response: Mapping[str, Any]) -> tuple[str, int]:
    """("allow" | "warn" | "deny", HTTP-style code) of an AdmissionReview response."""
    body = _mapping(response.get("response"))
    code = int(_mapping(body.get("status")).get("code") or (200 if body.get("allowed") else 403))
    if not body.get("allowed"):
        return "deny", code
    return ("warn" if body.get("warnings") else "allow"), code


def rules(verdict: Verdict | None) -> list[dict[str, str]]:
    if verdict is None:
        return []
    return [{"rule": f.rule, "mode": f.mode, "path": f.path, "message": f.message[:MAX_MESSAGE]}
            for f in verdict.findings]


def build(webhook: str, request: Request, response: Mapping[str, Any], *, verdict: Verdict | None = None,
          extra_rules: list[dict[str, str]] | None = None, images: list[str] | None = None,
          timestamp: str | None = None) -> dict[str, Any]:
    """The record of one decision (pure: the tests compare whole records)."""
    kind = _KINDS.get(request.resource.resource) or request.kind.kind
    obj = request.object if request.object is not None else request.old_object
    about = context(kind, obj, request.namespace, request.name)
    if images is not None:
        about["images"] = images
    truncated: dict[str, int] = {}
    about["images"] = _capped(about["images"], "images", truncated)
    if about.get("hub_user"):
        about["hub_user"] = {"name": str(about["hub_user"]["name"])[:MAX_NAME],
                             "groups": [str(g)[:MAX_NAME] for g in _capped(about["hub_user"]["groups"], "groups",
                                                                          truncated)]}
    meta = _mapping(_mapping(obj).get("metadata"))
    name = request.name or _text(meta.get("name")) or (_text(meta.get("generateName")) + "*" if
                                                         meta.get("generateName") else "")
    verdict_name, code = outcome(response)
    return {
        "schema": jsonlog.SCHEMA_VERSION,
        "type": TYPE,
        "timestamp": timestamp or jsonlog.now(),
        "component": COMPONENT,
        "webhook": webhook,
        "request_uid": request.uid,
        "dry_run": request.dry_run,
        "user": {"username": request.user_info.username, "groups": list(request.user_info.groups)},
        "operation": request.operation,
        "kind": kind,
        "resource": request.resource.resource,
        "sub_resource": request.sub_resource,
        "namespace": _text(meta.get("namespace")) or request.namespace,
        "name": name,
        **about,
        "verdict": verdict_name,
        "code": code,
        "rules": _capped(rules(verdict) + list(extra_rules or []), "rules", truncated),
        "warnings": [str(w)[:MAX_MESSAGE] for w in _mapping(response.get("response")).get("warnings") or []
                     ][:MAX_WARNINGS],
        "truncated": truncated,
    }


def _capped(items: list[Any], field: str, truncated: dict[str, int]) -> list[Any]:
    """The first MAX_ITEMS of `items`; how many were left out goes in `truncated[field]`."""
    if len(items) > MAX_ITEMS:
        truncated[field] = len(items) - MAX_ITEMS
    return list(items[:MAX_ITEMS])


async def record(webhook: str, request: Request, response: Mapping[str, Any], *, verdict: Verdict | None = None,
                 extra_rules: list[dict[str, str]] | None = None, lookup: TemplateLookup | None = None) -> None:
    """Write the record of one decision. For an instance, the images are those of its template as it is now (from
    the webhook's cache; left empty if it cannot be read)."""
    try:
        images: list[str] | None = None
        if lookup is not None and request.resource.resource == constants.INSTANCE_PLURAL and request.object:
            ref = context(constants.INSTANCE_KIND, request.object, request.namespace)["template"]
            if ref is not None:
                try:
                    # Normally in the cache (the decision has just read it); never a long wait for the record.
                    async with asyncio.timeout(TEMPLATE_READ_SECONDS):
                        images = template_images(await lookup.template(ref["namespace"], ref["name"]))
                except Exception:  # noqa: BLE001 - the record is written without images rather than not at all
                    images = []
        jsonlog.emit(log, build(webhook, request, response, verdict=verdict, extra_rules=extra_rules,
                                images=images))
    except Exception:  # noqa: BLE001 - a record that cannot be built must not turn into a refused request
        logging.getLogger(__name__).exception("could not build the decision record of uid %s", request.uid)


def record_malformed(webhook: str, uid: str, message: str) -> None:
    """A review refused before it could be read (only when it carried a uid to answer to)."""
    jsonlog.emit(log, {"schema": jsonlog.SCHEMA_VERSION, "type": TYPE, "timestamp": jsonlog.now(),
                       "component": COMPONENT, "webhook": webhook, "request_uid": uid, "verdict": "deny", "code": 400,
                       "rules": [{"rule": "malformed-review", "mode": "enforce", "path": "",
                                  "message": message[:MAX_MESSAGE]}]})
