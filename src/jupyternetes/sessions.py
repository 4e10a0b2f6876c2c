"""Session limits: how long a notebook pod may run (policy data `sessions`), enforced by Kubernetes through
`activeDeadlineSeconds` (the kubelet stops the pod, phase Failed, reason DeadlineExceeded).

The mutating webhook fills in a template's limit where its pods set none, and the `sessions` policy refuses a pod
with no deadline, or a longer one, where a limit applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from jupyternetes.entitlements import template_matches

#: The reason the kubelet gives a pod it stopped at its deadline.
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"


def limit(config: Mapping[str, Any], namespace: str | None, name: str | None) -> int | None:
    """The longest a pod of template `namespace/name` may run, in seconds: the smallest limit of the patterns in
    `sessions.templates` that name it, else `sessions.max_seconds`; None for no limit. (Without a template name, as
    for a bare pod in `policy test`, `max_seconds`.)"""
    sessions = config.get("sessions") or {}
    if namespace and name:
        named = [seconds for pattern, seconds in (sessions.get("templates") or {}).items()
                 if template_matches(pattern, namespace, name)]
        if named:
            return int(min(named))
    seconds = sessions.get("max_seconds")
    return int(seconds) if seconds is not None else None


def describe(seconds: int) -> str:
    """`seconds` in words: 8 hours, 90 minutes, 45 seconds."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
