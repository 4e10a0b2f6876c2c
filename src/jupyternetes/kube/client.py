"""The synchronous and asynchronous clients over httpx, sharing every piece of request building and error handling."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import httpx

from jupyternetes.kube.config import KubeConfig
from jupyternetes.kube.errors import _ERRORS_BY_STATUS, ApiError, NotFound, Unreachable
from jupyternetes.kube.resources import KNOWN_TYPES, ResourceType


DEFAULT_TIMEOUT: Final = 30.0

MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
STRATEGIC_PATCH: Final = "application/strategic-merge-patch+json"
APPLY_PATCH: Final = "application/apply-patch+yaml"


def _error_from(response: httpx.Response) -> ApiError:
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    message = str(body.get("message") or response.text or response.reason_phrase)
    reason = str(body.get("reason") or response.reason_phrase)
    error_type = _ERRORS_BY_STATUS.get(response.status_code, ApiError)
    return error_type(response.status_code, reason, message, body)


def _unreachable(method: str, path: str, error: Exception) -> Unreachable:
    return Unreachable(0, "Unreachable", f"{method} {path}: {type(error).__name__}: {error}")


def _result(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise _error_from(response)
    if not response.content:
        return {}
    if not response.headers.get("content-type", "").startswith("application/json"):
        return {"text": response.text}
    parsed = response.json()
    return parsed if isinstance(parsed, dict) else {"items": parsed}


def _patch_body(patch: Any) -> bytes:
    # Every patch type, server-side apply's YAML included, accepts JSON.
    return json.dumps(patch).encode()


def _delete_options(uid: str | None) -> dict[str, Any] | None:
    if not uid:
        return None
    return {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class _Base:
    def __init__(self, config: KubeConfig, user_agent: str = "jupyternetes") -> None:
        self.config = config
        #: Sent with every request; API server audit logs name the component (and replica) by it.
        self.user_agent = user_agent
        self._discovered: dict[tuple[str, str], ResourceType] = {}

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    @staticmethod
    def type_of(obj: Mapping[str, Any]) -> tuple[str, str]:
        return str(obj.get("apiVersion", "")), str(obj.get("kind", ""))

    def _known(self, api_version: str, kind: str) -> ResourceType | None:
        return KNOWN_TYPES.get((api_version, kind)) or self._discovered.get((api_version, kind))

    def _remember(self, api_version: str, listing: dict[str, Any]) -> None:
        for resource in listing.get("resources") or []:
            if "/" in resource.get("name", ""):
                continue
            rt = ResourceType(api_version, resource["kind"], resource["name"], bool(resource.get("namespaced")))
            self._discovered[(api_version, rt.kind)] = rt

    @staticmethod
    def _discovery_path(api_version: str) -> str:
        return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"

    @staticmethod
    def _not_served(api_version: str, kind: str) -> ApiError:
        return NotFound(404, "NotFound", f"the server does not serve kind {kind!r} in {api_version!r}")


class Kube(_Base):
    """Synchronous client, for the command line, the local control plane and tests."""

    def __init__(self, config: KubeConfig, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(config)
        self._http = httpx.Client(base_url=config.server, verify=config.ssl_context(), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:
        content = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        try:
            response = self._http.request(method, path, params=_query(params), content=content,
                                          headers=self._headers(content_type if content is not None else None))
        except httpx.TransportError as error:
            raise _unreachable(method, path, error) from error
        return _result(response)

    def resource(self, api_version: str, kind: str) -> ResourceType:
        known = self._known(api_version, kind)
        if known:
            return known
        self._remember(api_version, self.request("GET", self._discovery_path(api_version)))
        known = self._known(api_version, kind)
        if not known:
            raise self._not_served(api_version, kind)
        return known

    def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.request("GET", rt.path(namespace, name))

    def exists(self, rt: ResourceType, name: str, namespace: str | None = None) -> bool:
        """Whether the object is there (any other error, such as Forbidden, is raised)."""
        try:
            self.get(rt, name, namespace)
            return True
        except NotFound:
            return False

    def list(self, rt: ResourceType, namespace: str | None = None, **params: Any) -> dict[str, Any]:
        return self.request("GET", rt.path(namespace), params=params)

    def create(self, obj: Mapping[str, Any], namespace: str | None = None, **params: Any) -> dict[str, Any]:
        rt = self.resource(*self.type_of(obj))
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.request("POST", rt.path(ns), params=params, body=dict(obj))

    def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str | None = None,
              content_type: str = MERGE_PATCH, subresource: str | None = None, **params: Any) -> dict[str, Any]:
        return self.request("PATCH", rt.path(namespace, name, subresource), params=params,
                            body=_patch_body(patch), content_type=content_type)

    def replace(self, rt: ResourceType, obj: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """PUT `obj` whole (its metadata.resourceVersion, when set, makes it a compare-and-swap: `Conflict` if the
        object changed since it was read)."""
        meta = obj.get("metadata") or {}
        return self.request("PUT", rt.path(meta.get("namespace"), meta.get("name")), params=params, body=obj)

    def apply(self, obj: Mapping[str, Any], field_manager: str = "jupyternetes", force: bool = True,
              **params: Any) -> dict[str, Any]:
        """Server-side apply of a whole object."""
        rt = self.resource(*self.type_of(obj))
        meta = obj.get("metadata") or {}
        return self.patch(rt, meta["name"], obj, meta.get("namespace"), APPLY_PATCH, fieldManager=field_manager,
                          force=force, **params)

    def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *, uid: str | None = None,
               **params: Any) -> dict[str, Any]:
        """Delete by name; with `uid`, only that very object (the API server refuses a successor of the same name)."""
        return self.request("DELETE", rt.path(namespace, name), params=params, body=_delete_options(uid))

    def watch(self, rt: ResourceType, namespace: str | None = None, timeout: float = 60.0,
              **params: Any) -> Iterator[dict[str, Any]]:
        params = {"watch": True, "allowWatchBookmarks": True, "timeoutSeconds": int(timeout), **params}
        with self._http.stream("GET", rt.path(namespace), params=_query(params), headers=self._headers(),
                               timeout=httpx.Timeout(timeout + 10)) as response:
            if response.status_code >= 400:
                response.read()
                raise _error_from(response)
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)


def _last_moment(check: Callable[[str, str], None], method: str,
                 path: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore `trace` callback that runs `check` just before the request's headers are sent."""
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event in ("http11.send_request_headers.started", "http2.send_request_headers.started"):
            check(method, path)
    return trace


class AsyncKube(_Base):
    """Asynchronous client, for the operator, the webhook and the spawner."""

    def __init__(self, config: KubeConfig, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 100,
                 user_agent: str = "jupyternetes") -> None:
        super().__init__(config, user_agent)
        #: Called with (method, path, status) after every answered request; the operator counts API calls with it.
        self.on_response: Callable[[str, str, int], None] | None = None
        #: Called with (method, path) before every request that is not a read; raising `Fenced` stops it unsent.
        self.before_write: Callable[[str, str], None] | None = None
        self._http = httpx.AsyncClient(
            base_url=config.server,
            verify=config.ssl_context(),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncKube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                      content_type: str = "application/json") -> dict[str, Any]:
        extensions: dict[str, Any] = {}
        if self.before_write is not None and method not in ("GET", "HEAD"):
            self.before_write(method, path)
            # Asked again at the last moment, as the request line is written to the socket: a request can wait for
            # a pooled connection for a while (long enough for the process to be paused and the lease to lapse).
            extensions["trace"] = _last_moment(self.before_write, method, path)
        content = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        try:
            response = await self._http.request(method, path, params=_query(params), content=content,
                                                headers=self._headers(content_type if content is not None else None),
                                                extensions=extensions)
        except httpx.TransportError as error:
            raise _unreachable(method, path, error) from error
        if self.on_response is not None:
            self.on_response(method, path, response.status_code)
        return _result(response)

    async def resource(self, api_version: str, kind: str) -> ResourceType:
        known = self._known(api_version, kind)
        if known:
            return known
        self._remember(api_version, await self.request("GET", self._discovery_path(api_version)))
        known = self._known(api_version, kind)
        if not known:
            raise self._not_served(api_version, kind)
        return known

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        return await self.request("GET", rt.path(namespace, name))

    async def list(self, rt: ResourceType, namespace: str | None = None, **params: Any) -> dict[str, Any]:
        return await self.request("GET", rt.path(namespace), params=params)

    async def create(self, obj: Mapping[str, Any], namespace: str | None = None, **params: Any) -> dict[str, Any]:
        rt = await self.resource(*self.type_of(obj))
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return await self.request("POST", rt.path(ns), params=params, body=dict(obj))

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str | None = None,
                    content_type: str = MERGE_PATCH, subresource: str | None = None,
                    **params: Any) -> dict[str, Any]:
        return await self.request("PATCH", rt.path(namespace, name, subresource), params=params,
                                  body=_patch_body(patch), content_type=content_type)

    async def replace(self, rt: ResourceType, obj: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """PUT `obj` whole (a compare-and-swap on its metadata.resourceVersion, when set)."""
        meta = obj.get("metadata") or {}
        return await self.request("PUT", rt.path(meta.get("namespace"), meta.get("name")), params=params, body=obj)

    async def apply(self, obj: Mapping[str, Any], field_manager: str = "jupyternetes", force: bool = True,
                    **params: Any) -> dict[str, Any]:
        rt = await self.resource(*self.type_of(obj))
        meta = obj.get("metadata") or {}
        return await self.patch(rt, meta["name"], obj, meta.get("namespace"), APPLY_PATCH,
                                fieldManager=field_manager, force=force, **params)

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *, uid: str | None = None,
                     **params: Any) -> dict[str, Any]:
        """Delete by name; with `uid`, only that very object (the API server refuses a successor of the same name)."""
        return await self.request("DELETE", rt.path(namespace, name), params=params, body=_delete_options(uid))

    async def watch(self, rt: ResourceType, namespace: str | None = None, timeout: float = 300.0,
                    **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Watch events (`{"type": ..., "object": ...}`) until the server ends the watch after `timeout` seconds."""
        params = {"watch": True, "allowWatchBookmarks": True, "timeoutSeconds": int(timeout), **params}
        async with self._http.stream("GET", rt.path(namespace), params=_query(params), headers=self._headers(),
                                     timeout=httpx.Timeout(timeout + 10)) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error_from(response)
            async for line in response.aiter_lines():
                if line:
                    yield json.loads(line)
