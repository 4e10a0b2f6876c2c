"""The asynchronous client the operator, the webhook and the hub use (aiohttp), against the real API server: objects
and errors come back as the synchronous client gives them, a watch delivers an event far larger than one read of the
socket, and a server that is not there is `Unreachable`, never a library's own exception."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from jupyternetes import kube
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.kube.client import _lines

pytestmark = pytest.mark.cluster


def _config_map(name: str, size: int = 0) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"big": "x" * size}}


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
