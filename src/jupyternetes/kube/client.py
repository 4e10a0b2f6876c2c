"""The synchronous client over httpx (the command line, the local control plane, tests) and the asynchronous one over
aiohttp (the operator, the webhook and the spawner), sharing every piece of request building and error handling.

The asynchronous client is aiohttp's, not httpx's, for its cost: on a request through a pool of 10 kept-alive TLS
connections, httpx and httpcore took 1.5 to 1.7 ms of the caller's CPU, aiohttp 0.2 to 0.25 ms
(benchmarks/client_bench.py), and the operator and the hub make several requests for every server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx

from jupyternetes.kube.config import KubeConfig
from jupyternetes.kube.errors import _ERRORS_BY_STATUS, UNTRUSTED, ApiError, NotFound, Unreachable
from jupyternetes.kube.resources import KNOWN_TYPES, ResourceType

if TYPE_CHECKING:
    import aiohttp


DEFAULT_TIMEOUT: Final = 30.0
#: Idle connections are closed after this long (the API server keeps them far longer).
KEEPALIVE_SECONDS: Final = 5.0
#: How many of its timeouts a request may wait for one of the asynchronous client's own connections.
QUEUE_TIMEOUTS: Final = 4

MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
STRATEGIC_PATCH: Final = "application/strategic-merge-patch+json"
APPLY_PATCH: Final = "application/apply-patch+yaml"


@dataclass(frozen=True)
class _Answer:
    """What either client reads of an HTTP response."""

    status: int
    reason: str
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _answer(response: httpx.Response) -> _Answer:
    return _Answer(response.status_code, response.reason_phrase, response.headers.get("content-type", ""),
                   response.content)


async def _read_answer(response: aiohttp.ClientResponse) -> _Answer:
    return _Answer(response.status, response.reason or "", response.headers.get("Content-Type", ""),
                   await response.read())


def _error_from(answer: _Answer) -> ApiError:
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        parsed = json.loads(answer.body)
        if isinstance(parsed, dict):
            body = parsed
    message = str(body.get("message") or answer.text or answer.reason)
    reason = str(body.get("reason") or answer.reason)
    error_type = _ERRORS_BY_STATUS.get(answer.status, ApiError)
    return error_type(answer.status, reason, message, body)


def _unreachable(method: str, path: str, error: Exception) -> Unreachable:
    return Unreachable(0, UNTRUSTED if _certificate_refused(error) else "Unreachable",
                       f"{method} {path}: {type(error).__name__}: {error}")


def _certificate_refused(error: BaseException | None) -> bool:
    """Whether `error`, or what caused it, is a refused server certificate (aiohttp and httpx wrap ssl's)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, ssl.SSLCertVerificationError) or isinstance(
                getattr(error, "certificate_error", None), ssl.SSLCertVerificationError):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _result(answer: _Answer) -> dict[str, Any]:
    if answer.status >= 300:  # redirects are not followed: the API server sends none, a proxy's login page would
        raise _error_from(answer)
    if not answer.body:
        return {}
    if not answer.content_type.startswith("application/json"):
        return {"text": answer.text}
    try:
        parsed = json.loads(answer.body)
    except ValueError as error:
        raise ApiError(answer.status, "InvalidResponse", f"the API server's answer is not the JSON it says it is: "
                       f"{error}") from None
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
        return _result(_answer(response))

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
            if response.status_code >= 300:
                response.read()
                raise _error_from(_answer(response))
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)


def _lines(buffer: bytearray, chunk: bytes) -> list[bytes]:
    """The complete lines of `buffer` followed by `chunk`; what follows the last newline stays in `buffer`. Only the
    new chunk is searched, so a large event arriving in many reads is not scanned again for each."""
    end = chunk.rfind(b"\n")
    if end < 0:
        buffer.extend(chunk)
        return []
    buffer.extend(chunk[:end])
    complete = bytes(buffer)
    buffer[:] = chunk[end + 1:]
    return complete.split(b"\n")


def proxy_for(server: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy to reach `server` through, from HTTPS_PROXY / HTTP_PROXY and NO_PROXY as httpx read them before
    (lowercase names first; a proxy without a scheme is http://; NO_PROXY names hosts, domains, `*` and addresses,
    not CIDR ranges). None: connect directly."""
    import os
    import urllib.request

    source = os.environ if environ is None else environ
    proxies: dict[str, str] = {}
    for key, value in sorted(source.items(), key=lambda item: item[0].islower()):  # lowercase last: it wins
        if key.lower().endswith("_proxy"):
            proxies[key.lower()[:-len("_proxy")]] = value
    proxies = {scheme: value for scheme, value in proxies.items() if value}
    parts = urlsplit(server)
    proxy = proxies.get(parts.scheme.lower())
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")  # without an IPv6 address's brackets
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


@functools.cache
def _connector_class() -> type[aiohttp.TCPConnector]:
    import aiohttp

    class FencedConnector(aiohttp.TCPConnector):
        """Asks the client's `before_write` again once a write has its connection, just before a byte of it is
        written: a request can wait for one of the client's connections long enough for the process to be paused and
        the lease to lapse. A refused write gives its connection back unused."""

        def __init__(self, client: AsyncKube, **options: Any) -> None:
            super().__init__(**options)
            self._client = client

        async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
            connection = await super().connect(req, traces, timeout)
            check = self._client.before_write
            if check is not None and req.method not in ("GET", "HEAD"):
                try:
                    check(req.method, req.url.path)
                except BaseException:
                    connection.release()
                    raise
            return connection

    return FencedConnector


@functools.cache
def _fenced_body_class() -> type[Any]:
    import aiohttp.payload

    class FencedBody(aiohttp.payload.BytesPayload):
        """A write's body that asks `check` once more as its first bytes are written. On Python before 3.12 aiohttp
        keeps a request's headers back and writes them with the body, from a task of its own that the event loop may
        run many callbacks later: a check made before that (when the connection was had) leaves a window in which a
        replica frozen and resumed still sends. Here the check and the write of the headers are one step."""

        refused: BaseException | None = None

        def __init__(self, value: bytes, check: Callable[[str, str], None], method: str, path: str) -> None:
            super().__init__(value)
            self._check = (check, method, path)

        def _fence(self) -> None:
            check, method, path = self._check
            try:
                check(method, path)
            except BaseException as error:
                self.refused = error
                raise

        async def write(self, writer: Any) -> None:
            self._fence()
            await super().write(writer)

        async def write_with_length(self, writer: Any, content_length: int | None) -> None:
            self._fence()
            await super().write_with_length(writer, content_length)

    return FencedBody


class AsyncKube(_Base):
    """Asynchronous client, for the operator, the webhook and the spawner. Its connections belong to the event loop
    that first used them; used from another loop (tests run several), it opens new ones there. After `aclose()` it
    refuses every request.

    aiohttp sends a PUT or DELETE again, on its own, when a kept-alive connection drops before the answer, though the
    API server may have applied the first: a lease renewal would then meet its own write as a conflict, and a delete
    its own deletion. This client turns that off and repeats only GETs, once."""

    def __init__(self, config: KubeConfig, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 100,
                 user_agent: str = "jupyternetes") -> None:
        super().__init__(config, user_agent)
        #: Called with (method, path, status) after every answered request; the operator counts API calls with it.
        self.on_response: Callable[[str, str, int], None] | None = None
        #: Called with (method, path) before every request that is not a read; raising `Fenced` stops it unsent.
        self.before_write: Callable[[str, str], None] | None = None
        self._server = config.server.rstrip("/")
        self._ssl = config.ssl_context() if urlsplit(self._server).scheme.lower() == "https" else None
        self._proxy = proxy_for(self._server)
        self._timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        #: One permit per connection for requests: a request waits here for one before aiohttp sees it (see `_http`).
        #: Watches take none (each holds a connection of its own for minutes, and would starve requests).
        self._slots: asyncio.Semaphore | None = None
        #: How long a request may wait for a permit before it fails as `Unreachable`.
        self._queue_timeout = QUEUE_TIMEOUTS * timeout
        self._closed = False

    def _http(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._closed:
            raise RuntimeError("this Kubernetes client is closed")
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # The system's resolver (as httpx used), not c-ares: kubeconfig host names resolve as for kubectl.
            # No limit in aiohttp: requests are limited by the permits below, and watches by their callers.
            connector = _connector_class()(self, limit=0, ssl=self._ssl if self._ssl else True,
                                           keepalive_timeout=KEEPALIVE_SECONDS, resolver=aiohttp.ThreadedResolver())
            # A request (not a watch) ends within four timeouts (eight for a GET asked twice), however slowly its body
            # is written or read.
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
                total=4 * self._timeout, connect=self._timeout, sock_connect=self._timeout,
                sock_read=self._timeout))
            if not hasattr(self._session, "_retry_connection"):
                raise RuntimeError(f"aiohttp {aiohttp.__version__} has no _retry_connection: this client cannot keep "
                                   "it from sending a write twice; use a version of aiohttp that has it")
            self._session._retry_connection = False  # see the class's docstring; aiohttp's own test client does so
            self._session_loop = loop
            # aiohttp counts the wait for a pooled connection in the request's connect timeout. With every connection
            # busy (a hub creating thousands of instances), a request that merely waited its turn failed as the
            # server's timeout. Requests wait for a permit here instead (up to QUEUE_TIMEOUTS of their timeouts), so
            # aiohttp always has a connection for them and its timeouts measure the server alone.
            self._slots = asyncio.Semaphore(self._max_connections)
        return self._session

    @contextlib.asynccontextmanager
    async def _slot(self, method: str, path: str) -> AsyncIterator[None]:
        """A permit for one request (after `_http`, which makes the permits with the session); waiting longer than
        the queue's timeout fails as `Unreachable`, naming the wait."""
        assert self._slots is not None
        slots = self._slots
        try:
            async with asyncio.timeout(self._queue_timeout):
                await slots.acquire()
        except TimeoutError:
            raise Unreachable(0, "Unreachable", f"{method} {path}: waited {self._queue_timeout:g} s for one of this "
                              f"client's {self._max_connections} connections, all busy with slower requests") from None
        try:
            yield
        finally:
            slots.release()

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed and self._session_loop is asyncio.get_running_loop():
            await session.close()

    async def __aenter__(self) -> AsyncKube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                      content_type: str = "application/json") -> dict[str, Any]:
        import aiohttp

        if self.before_write is not None and method not in ("GET", "HEAD"):
            self.before_write(method, path)  # and again as the request is about to be written (FencedConnector)
        content = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        headers = self._headers(content_type if content is not None else None)
        query = _query(params)
        http = self._http()
        data: Any = content
        if content is not None and self.before_write is not None and method not in ("GET", "HEAD"):
            data = _fenced_body_class()(content, self.before_write, method, path)
        for attempt in (1, 2):
            try:
                async with self._slot(method, path), http.request(
                        method, self._server + path, params=query, data=data, headers=headers, allow_redirects=False,
                        proxy=self._proxy) as response:
                    answer = await _read_answer(response)
                break
            except aiohttp.ClientConnectorError as error:
                raise _unreachable(method, path, error) from error
            except aiohttp.ClientConnectionError as error:
                refused = getattr(data, "refused", None)
                if refused is not None:
                    raise refused from None  # the fence, as the body was about to be written: nothing was sent
                if method == "GET" and attempt == 1 and isinstance(error, (aiohttp.ServerDisconnectedError,
                                                                             aiohttp.ClientOSError)):
                    continue  # a kept-alive connection closed or reset under the request: a read is safe to repeat
                raise _unreachable(method, path, error) from error
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                raise _unreachable(method, path, error) from error
        if self.on_response is not None:
            self.on_response(method, path, answer.status)
        return _result(answer)

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
        import aiohttp

        params = {"watch": True, "allowWatchBookmarks": True, "timeoutSeconds": int(timeout), **params}
        path = rt.path(namespace)
        headers = self._headers()
        http = self._http()
        try:
            async with http.get(self._server + path, params=_query(params), headers=headers,
                                allow_redirects=False, proxy=self._proxy,
                                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout,
                                                              sock_read=timeout + 10)) as response:
                if response.status >= 300:
                    raise _error_from(await _read_answer(response))
                buffer = bytearray()
                async for chunk in response.content.iter_any():
                    for line in _lines(buffer, chunk):
                        if line.strip():
                            yield json.loads(line)
                if buffer.strip():
                    yield json.loads(buffer)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise _unreachable("GET", path, error) from error
