"""The asynchronous client the operator, the webhook and the hub use (aiohttp). Against the real API server: objects
and errors come back as the synchronous client gives them, and a watch delivers an event far larger than one read of
the socket. Against small servers of the test's own: a server that is not there is `Unreachable` (never a library's
own exception), a write is never sent twice, a redirect is an error and is not followed, and a closed client sends
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
import struct
import uuid

import pytest

from jupyternetes import kube
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.kube.client import _lines, proxy_for
from tests.support.relay import Relay


def _config_map(name: str, size: int = 0) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"big": "x" * size}}


@pytest.mark.cluster
async def test_writes_reads_and_errors_come_back_as_the_sync_client_gives_them(cluster: LocalCluster) -> None:
    name = f"async-client-{uuid.uuid4().hex[:8]}"
    async with cluster.async_kube() as api:
        created = await api.create(_config_map(name))
        assert created["metadata"]["name"] == name
        patched = await api.patch(kube.CONFIG_MAP, name, {"data": {"more": "1"}}, "default")
        assert patched["data"]["more"] == "1"
        with pytest.raises(kube.Conflict) as conflict:
            await api.create(_config_map(name))
        assert conflict.value.status == 409 and name in conflict.value.message
        await api.delete(kube.CONFIG_MAP, name, "default", uid=created["metadata"]["uid"])
        with pytest.raises(kube.NotFound):
            await api.get(kube.CONFIG_MAP, name, "default")


@pytest.mark.cluster
async def test_a_watch_delivers_an_event_larger_than_a_read_of_the_socket(cluster: LocalCluster) -> None:
    name = f"async-watch-{uuid.uuid4().hex[:8]}"
    size = 600_000  # an object of about 600 KB: many reads, and far past aiohttp's own line limit (64 KiB)
    async with cluster.async_kube() as api:
        version = (await api.list(kube.CONFIG_MAP, "default"))["metadata"]["resourceVersion"]

        async def first_event() -> dict[str, object]:
            async for event in api.watch(kube.CONFIG_MAP, "default", timeout=30, resourceVersion=version,
                                         fieldSelector=f"metadata.name={name}"):
                if event["type"] == "ADDED":
                    return event
            raise AssertionError("the watch ended without the object")

        watching = asyncio.ensure_future(first_event())
        await asyncio.sleep(0.5)
        await api.create(_config_map(name, size))
        event = await asyncio.wait_for(watching, 30)
        assert event["object"]["data"]["big"] == "x" * size  # type: ignore[index]
        await api.delete(kube.CONFIG_MAP, name, "default")


def _through(cluster: LocalCluster, port: int) -> kube.KubeConfig:
    """The admin's kubeconfig, with the API server at 127.0.0.1:`port` (a relay's)."""
    config = kube.KubeConfig.from_file(cluster.kubeconfig("admin"))
    return dataclasses.replace(config, server=f"https://127.0.0.1:{port}")


@pytest.mark.cluster
async def test_waiting_for_one_of_the_clients_own_connections_is_not_the_servers_timeout(
    cluster: LocalCluster
) -> None:
    """Found by 10,000 users through JupyterHub: with every one of the hub's connections busy creating instances, a
    read waited longer than the client's timeout for one of them, and aiohttp counted that wait as the server's: the
    read failed as `Unreachable` (connection timeout) and hundreds of starts with it. Here the client has one
    connection, each answer takes 0.3 s, and eight reads are made at once: the last waits about 2.4 s, past the
    client's 1 s timeout, and every read succeeds."""
    relay = Relay(kube.KubeConfig.from_file(cluster.kubeconfig("admin")).server)
    api = kube.AsyncKube(_through(cluster, await relay.start()), timeout=1, max_connections=1)
    try:
        await api.list(kube.CONFIG_MAP, "default")  # the connection is made (and its TLS handshake) before the delay
        relay.delay = 0.3
        started = time.monotonic()
        listed = await asyncio.gather(*(api.list(kube.CONFIG_MAP, "default") for _ in range(8)))
        assert time.monotonic() - started > 1  # the last read waited past the client's timeout
        assert all(answer["kind"] == "ConfigMapList" for answer in listed)
    finally:
        await api.aclose()
        relay.close()


@pytest.mark.cluster
async def test_a_request_waits_for_a_connection_at_most_four_timeouts_and_then_says_so(
    cluster: LocalCluster
) -> None:
    """The wait for one of the client's own connections is bounded (four of its timeouts), so work whose caller has
    gone (an admission review the API server gave up on) does not keep its place for ever: one connection, answers
    that take 0.8 s and ten reads at once, with a 1 s timeout. The first reads succeed; the later ones fail as
    `Unreachable`, naming the wait."""
    relay = Relay(kube.KubeConfig.from_file(cluster.kubeconfig("admin")).server)
    api = kube.AsyncKube(_through(cluster, await relay.start()), timeout=1, max_connections=1)
    try:
        await api.list(kube.CONFIG_MAP, "default")
        relay.delay = 0.8
        answers = await asyncio.gather(*(api.list(kube.CONFIG_MAP, "default") for _ in range(10)),
                                       return_exceptions=True)
        assert isinstance(answers[0], dict) and answers[0]["kind"] == "ConfigMapList"
        failed = [answer for answer in answers if isinstance(answer, BaseException)]
        assert failed and all(isinstance(error, kube.Unreachable) for error in failed), answers
        assert "waited 4 s for one of this client's 1 connections, all busy with slower requests" in str(failed[0])
    finally:
        await api.aclose()
        relay.close()


@pytest.mark.cluster
async def test_a_watch_does_not_hold_a_connection_a_request_needs(cluster: LocalCluster) -> None:
    """Found by a review: watches took the same permits as requests, so with as many watches as connections no
    request was ever sent, and a watch reopened after its server ended it queued behind every waiting request. A
    client with one connection, a watch open on it for 5 s: a read made meanwhile is answered at once."""
    api = kube.AsyncKube(kube.KubeConfig.from_file(cluster.kubeconfig("admin")), timeout=10, max_connections=1)
    try:
        version = (await api.list(kube.CONFIG_MAP, "default"))["metadata"]["resourceVersion"]

        async def hold() -> None:
            async for _ in api.watch(kube.CONFIG_MAP, "default", timeout=5, resourceVersion=version,
                                     fieldSelector="metadata.name=nothing-by-this-name"):
                pass

        holding = asyncio.ensure_future(hold())
        await asyncio.sleep(0.5)
        assert not holding.done()
        listed = await api.list(kube.CONFIG_MAP, "default")
        assert listed["kind"] == "ConfigMapList"
        assert not holding.done()  # answered while the watch still had its connection
        holding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holding
    finally:
        await api.aclose()


async def test_a_server_that_is_not_there_is_unreachable_with_the_request_named() -> None:
    api = kube.AsyncKube(kube.KubeConfig(server="https://127.0.0.1:1", insecure=True), timeout=5)
    try:
        with pytest.raises(kube.Unreachable) as failed:
            await api.get(kube.CONFIG_MAP, "x", "default")
        assert "GET /api/v1/namespaces/default/configmaps/x" in failed.value.message
        with pytest.raises(kube.Unreachable):
            async for _ in api.watch(kube.CONFIG_MAP, "default", timeout=5):
                pass
    finally:
        await api.aclose()


@pytest.mark.parametrize(("chunks", "lines", "rest"), [
    ([b'{"a":1}\n'], [[b'{"a":1}']], b""),
    ([b'{"a"', b':1}\n{"b"'], [[], [b'{"a":1}']], b'{"b"'),
    ([b'1\n2\n3'], [[b"1", b"2"]], b"3"),
    ([b"", b"\n"], [[], [b""]], b""),
], ids=["whole", "split", "several", "empty"])
def test_watch_lines_are_cut_only_at_newlines(chunks: list[bytes], lines: list[list[bytes]], rest: bytes) -> None:
    buffer = bytearray()
    assert [_lines(buffer, chunk) for chunk in chunks] == lines
    assert bytes(buffer) == rest


class _Server:
    """A small HTTP/1.1 server that records each request line and answers as told: `answers` holds, for each request
    in turn, raw bytes to send, None to close the connection without a word (after reading the request whole), or
    "reset" to reset it."""

    def __init__(self, answers: list[bytes | str | None]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                await reader.readexactly(length)
                self.requests.append(head.split("\r\n", 1)[0])
                answer = self.answers.pop(0) if self.answers else None
                if answer == "reset":
                    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                               struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if not isinstance(answer, bytes):
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def __aenter__(self) -> kube.AsyncKube:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.api = kube.AsyncKube(kube.KubeConfig(server=f"http://127.0.0.1:{port}"), timeout=5)
        return self.api

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()
        self.server.close()
        await self.server.wait_closed()


def _json(status: str, body: bytes = b"{}", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


@pytest.mark.parametrize("drop", [None, "reset"], ids=["closed", "reset"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "PATCH"])
async def test_a_write_whose_connection_drops_before_the_answer_is_sent_once_and_is_unreachable(
        method: str, drop: str | None) -> None:
    """The API server may have applied it: sent again, a lease renewal would meet its own write as a conflict."""
    server = _Server([_json("200 OK"), drop, _json("409 Conflict")])
    async with server as api:
        await api.request("GET", "/api/v1/namespaces/d/configmaps")  # a kept-alive connection to drop
        with pytest.raises(kube.Unreachable) as failed:
            await api.request(method, "/api/v1/namespaces/d/configmaps/x", body={"a": 1})
        assert f"{method} /api/v1/namespaces/d/configmaps/x" in failed.value.message
    assert [line.split()[0] for line in server.requests] == ["GET", method]


@pytest.mark.parametrize("drop", [None, "reset"], ids=["closed", "reset"])
async def test_a_read_whose_kept_alive_connection_drops_is_asked_once_more(drop: str | None) -> None:
    server = _Server([_json("200 OK"), drop, _json("200 OK", b'{"kind": "ConfigMap"}')])
    async with server as api:
        await api.request("GET", "/api/v1/namespaces/d/configmaps")
        assert (await api.get(kube.CONFIG_MAP, "x", "d"))["kind"] == "ConfigMap"
    assert [line.split()[0] for line in server.requests] == ["GET", "GET", "GET"]


async def test_a_redirect_is_an_error_naming_its_status_and_is_not_followed() -> None:
    server = _Server([_json("302 Found", b"", "Location: /login\r\n")])
    async with server as api:
        with pytest.raises(kube.ApiError) as refused:
            await api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "d"}})
        assert refused.value.status == 302
    assert server.requests == ["POST /api/v1/namespaces/d/configmaps HTTP/1.1"]


async def test_an_answer_that_is_not_the_json_it_says_is_an_api_error_naming_it() -> None:
    async with _Server([_json("200 OK", b"{not json")]) as api:
        with pytest.raises(kube.ApiError) as failed:
            await api.get(kube.CONFIG_MAP, "x", "d")
        assert failed.value.reason == "InvalidResponse" and "not the JSON it says it is" in failed.value.message


async def test_a_closed_client_sends_nothing() -> None:
    server = _Server([])
    async with server as api:
        await api.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await api.get(kube.CONFIG_MAP, "x", "d")
    assert server.requests == []


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
    ({"https_proxy": "http://proxy:3128", "NO_PROXY": "api.example,10.0.0.0/8"}, None),
    ({"HTTP_PROXY": "http://proxy:3128"}, None),  # the API server is https: only HTTPS_PROXY applies
    ({"HTTPS_PROXY": "proxy:3128"}, "http://proxy:3128"),  # no scheme: http://, as httpx and Go read it
    ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, "http://lower:1"),
    ({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1"}, "http://lower:1"),
    ({"HTTPS_PROXY": "http://proxy:1", "NO_PROXY": "api.example", "no_proxy": ""}, "http://proxy:1"),
], ids=["none", "https-proxy", "no-proxy", "http-only", "no-scheme", "lowercase-wins", "lowercase-wins-either-order",
        "empty-lowercase-no-proxy-wins"])
def test_the_proxy_is_read_from_the_environment_as_kubectl_reads_it(environ: dict[str, str],
                                                                     expected: str | None) -> None:
    assert proxy_for("https://api.example:6443", environ) == expected


def test_no_proxy_names_an_ipv6_api_server_without_its_brackets() -> None:
    assert proxy_for("https://[::1]:6443", {"HTTPS_PROXY": "http://proxy:1", "NO_PROXY": "::1"}) is None
    assert proxy_for("https://[::1]:6443", {"HTTPS_PROXY": "http://proxy:1"}) == "http://proxy:1"
