"""What the hub's own Kubernetes identity may do beyond creating instances, asked of the API server itself.

The admission policy stops the hub from writing anything but instances, but no admission control sees a read: a hub
whose RBAC also lets it read Secrets (Zero to JupyterHub's default does) could read every server's API token in its
namespace. The spawner asks with SelfSubjectAccessReviews, which need no permission, and refuses to start servers
while the hub may do any of these, so that a wide RBAC is fixed instead of silently relied on.
"""

from __future__ import annotations

import asyncio
from typing import Final

from jupyternetes import kube

#: (verb, resource, subresource) the hub must not be allowed, in the namespace it spawns into.
FORBIDDEN: Final = (
    ("get", "secrets", ""), ("list", "secrets", ""), ("watch", "secrets", ""),
    ("create", "pods", ""), ("create", "pods", "exec"), ("get", "pods", "log"),
    ("create", "serviceaccounts", "token"), ("create", "persistentvolumeclaims", ""),
)
_REVIEW: Final = kube.KNOWN_TYPES[("authorization.k8s.io/v1", "SelfSubjectAccessReview")]


async def _allowed(api: kube.AsyncKube, namespace: str, verb: str, resource: str, subresource: str) -> bool:
    attributes = {"namespace": namespace, "verb": verb, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    answer = await api.create({"apiVersion": _REVIEW.api_version, "kind": _REVIEW.kind,
                               "spec": {"resourceAttributes": attributes}})
    status = answer.get("status")
    if not isinstance(status, dict):
        raise Undecided(f"the API server's review of '{verb} {resource}' came back without an answer")
    if status.get("allowed") is True:
        return True
    if status.get("evaluationError") and status.get("denied") is not True:
        # An authorizer failed: what it would have granted is unknown, so this is no finding that the hub is narrow.
        raise Undecided(f"the API server could not decide whether the hub may {verb} {resource}: "
                        f"{status['evaluationError']}")
    return False


class Undecided(kube.ApiError):
    """An access review the API server could not decide (an authorizer failed); it may pass if asked again."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "Undecided", message)


async def excess(api: kube.AsyncKube, namespace: str) -> list[str]:
    """Each forbidden permission the hub has in `namespace`, as `verb resource[/subresource]`. The first review that
    fails is raised, and the others are cancelled (a retry asks them all again)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_allowed(api, namespace, *check)) for check in FORBIDDEN]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [f"{verb} {resource}{'/' + sub if sub else ''}" for (verb, resource, sub), task
            in zip(FORBIDDEN, tasks, strict=True) if task.result()]
