"""Errors from the Kubernetes API, by status, and from reading a kubeconfig."""

from __future__ import annotations

from typing import Any, Final




class KubeConfigError(ValueError):
    """The kubeconfig cannot be used; the message says which part and why."""


class ApiError(Exception):
    """The API server answered with an error status. `message` is the server's own words."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        super().__init__(f"{status} {reason}: {message}")

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list((self.body.get("details") or {}).get("causes") or [])


class NotFound(ApiError):
    pass


#: The `reason` of an `Unreachable` whose server's certificate was refused: asking again will not help.
UNTRUSTED: Final = "Untrusted"


class Unreachable(ApiError):
    """The API server could not be reached or did not answer in time (no HTTP status); `reason` is "Unreachable",
    or `UNTRUSTED` when its certificate was refused."""


class Conflict(ApiError):
    pass


class Forbidden(ApiError):
    pass


class Gone(ApiError):
    """A watch or list asked for a resourceVersion that is no longer available; list again."""


class Fenced(ApiError):
    """The client refused to send a write: its `before_write` hook said this process may no longer write (an
    operator replica that cannot be sure it still holds the leader lease). Nothing reached the API server."""


#: Statuses with which the API server says it is busy or failing: the same request may pass if asked again.
TRANSIENT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


def transient(error: ApiError) -> bool:
    """Whether the API server could not be reached or answered that it is busy or failing (not a refusal)."""
    return isinstance(error, Unreachable) or error.status in TRANSIENT_STATUSES


_ERRORS_BY_STATUS: Final[dict[int, type[ApiError]]] = {404: NotFound, 409: Conflict, 403: Forbidden, 410: Gone}
