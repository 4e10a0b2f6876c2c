"""A replica that cannot be sure it still holds the leader lease sends no write: the lease's own arithmetic, and the
API client's hook that enforces it. Pure functions and a client pointed at nothing (no API server is needed to show
that a request was never sent)."""

from __future__ import annotations

import asyncio
import time

import pytest

from jupyternetes import kube
from jupyternetes.operator.leader import LeaderElector
from jupyternetes.operator.reconcile import classify


def _elector() -> LeaderElector:
    config = kube.KubeConfig(server="https://127.0.0.1:1", insecure=True)
    return LeaderElector(kube.AsyncKube(config), "ns", "lease", "me", duration=4, renew=1)


async def test_a_replica_holds_the_lease_only_while_its_last_renewal_is_young() -> None:
    elector = _elector()
    assert not elector.holds()  # not elected
    elector.leading.set()
    assert not elector.holds()  # elected, but no renewal on record
    elector.renewed_at = time.monotonic()
    assert elector.holds()
    elector.renewed_at = time.monotonic() - 2.9
    assert elector.holds()
    elector.renewed_at = time.monotonic() - 3.1  # past duration less one renewal interval: another may take over
    assert not elector.holds()
    await elector.api.aclose()


async def test_a_fenced_write_is_never_sent_and_marks_the_lease_lost() -> None:
    elector = _elector()
    lost = asyncio.Event()
    elector._lost = lost
    elector.leading.set()
    elector.renewed_at = time.monotonic() - 10  # frozen for longer than the lease
    api = kube.AsyncKube(kube.KubeConfig(server="https://127.0.0.1:1", insecure=True))
    api.before_write = elector.fence
    try:
        with pytest.raises(kube.Fenced) as fenced:
            await api.request("POST", "/api/v1/namespaces/ns/pods", body={"kind": "Pod"})
        assert "not sent: this replica cannot be sure it still holds the lease ns/lease" in fenced.value.message
        assert lost.is_set()
        # Reads are not fenced: this one is sent, and fails only because nothing listens there.
        with pytest.raises(kube.Unreachable):
            await api.request("GET", "/api/v1/namespaces/ns/pods")
        elector.renewed_at = time.monotonic()
        with pytest.raises(kube.Unreachable):  # a held lease lets the write through (to nothing)
            await api.request("POST", "/api/v1/namespaces/ns/pods", body={"kind": "Pod"})
    finally:
        await api.aclose()
        await elector.api.aclose()


@pytest.mark.parametrize(("status", "message", "expected"), [
    (403, 'admission webhook "pods.validate.jupyternetes.kadense.io" denied the request: no',
     ("AdmissionDenied", False)),
    (503, 'admission webhook "pods.validate.jupyternetes.kadense.io" denied the request: the policy engine (OPA at '
          'http://127.0.0.1:1) is unreachable', ("AdmissionUnavailable", True)),
    (500, 'Internal error occurred: failed calling webhook "pods.validate.jupyternetes.kadense.io": connection '
          'refused', ("AdmissionUnavailable", True)),
    (403, "pods is forbidden: ValidatingAdmissionPolicy 'x' with binding 'x' denied request: no",
     ("AdmissionDenied", False)),
    (403, 'pods "p" is forbidden: exceeded quota: q', ("QuotaExceeded", True)),
    (422, 'Pod "p" is invalid: metadata.labels: Invalid value', ("Invalid", False)),
    (403, 'pods is forbidden: User "u" cannot create resource "pods"', ("ApiError", True)),
], ids=["webhook-no", "webhook-undecided", "webhook-unreachable", "policy-no", "quota", "invalid", "rbac"])
def test_an_error_from_creating_an_object_is_classified_by_whether_retrying_can_help(
    status: int, message: str, expected: tuple[str, bool]
) -> None:
    assert classify(kube.ApiError(status, "", message)) == expected


@pytest.mark.parametrize("yes_before", [1, 2], ids=["at-the-connection", "at-the-first-byte"])
async def test_a_write_that_waited_past_the_lease_is_stopped_before_a_byte_of_it_is_sent(yes_before: int) -> None:
    """The check is asked when the request is made, again once it has its connection (a request can wait for a pooled
    connection long enough for the lease to lapse), and again as its first bytes are written (the client keeps the
    headers back and writes them with the body from a task of its own, which the event loop may run much later).
    Here a later answer is no: the listening socket receives the connection but not one byte."""
    received = bytearray()
    ended = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.read())  # everything, until the client closes the connection
        writer.close()
        ended.set()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    answers = iter([None] * yes_before)

    def check(method: str, path: str) -> None:
        if next(answers, "no") == "no":
            raise kube.Fenced(0, "NotLeader", f"{method} {path} not sent")

    api = kube.AsyncKube(kube.KubeConfig(server=f"http://127.0.0.1:{port}"))
    api.before_write = check
    try:
        with pytest.raises(kube.Fenced):
            await api.request("POST", "/api/v1/namespaces/ns/pods", body={"kind": "Pod"})
        await api.aclose()  # closes the connection it had opened: the sink has seen all there will ever be
        await asyncio.wait_for(ended.wait(), 5)
        assert bytes(received) == b""
    finally:
        await api.aclose()
        server.close()
        await server.wait_closed()
