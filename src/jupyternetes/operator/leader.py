"""Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly one acts at a time.

The rules follow client-go's: a lease held by someone else counts as expired only when *we* have seen it unchanged for
longer than its duration (measured on our own monotonic clock, so clock skew between nodes does not matter); every
write carries the resourceVersion it read, so two candidates cannot both win. The leader renews every
`renew_seconds`; if it cannot renew before its lease would have expired it stops leading, and the operator exits
(its Deployment restarts it as a candidate) rather than risk two leaders.

Between renewals the leader fences its own writes (`fence`, the API client's `before_write` hook): a write is sent
only while the last successful renewal, timed from before it was sent, is younger than the lease duration less one
renewal interval, which is no later than the moment another replica may take over. A replica that was paused (a
frozen process, a stalled node) and wakes up after its lease has lapsed therefore sends nothing before it learns it
has lost the lease. The one window left is a write already past the check when the pause begins.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

from jupyternetes import kube

logger = logging.getLogger(__name__)

LEASE: Final = kube.KNOWN_TYPES[("coordination.k8s.io/v1", "Lease")]


def _micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Observed:
    holder: str | None
    resource_version: str
    record: str
    seen_at: float


class LeaderElector:
    def __init__(self, api: kube.AsyncKube, namespace: str, name: str, identity: str, duration: float,
                 renew: float) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew = renew
        self._observed: _Observed | None = None
        self.leading = asyncio.Event()
        #: Monotonic time at which the last successful acquire or renewal was started.
        self.renewed_at: float | None = None
        self._lost: asyncio.Event | None = None

    def holds(self) -> bool:
        """Whether this replica may still act as the leader: it leads, and its last renewal is young enough that no
        other replica can have taken over yet."""
        return (self.leading.is_set() and self.renewed_at is not None
                and time.monotonic() - self.renewed_at < self.duration - self.renew)

    def fence(self, method: str, path: str) -> None:
        """`before_write` hook for the operator's API client: refuse a write unless `holds()`."""
        if self.holds():
            return
        if self._lost is not None and self.leading.is_set():
            self._lost.set()
        raise kube.Fenced(0, "NotLeader", f"{method} {path} not sent: this replica cannot be sure it still holds the "
                          f"lease {self.namespace}/{self.name}")

    def _spec(self, lease: dict[str, Any] | None) -> dict[str, Any]:
        now = _micro_time()
        previous = (lease or {}).get("spec") or {}
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": now,
            "acquireTime": previous.get("acquireTime") if previous.get("holderIdentity") == self.identity else now,
            "leaseTransitions": int(previous.get("leaseTransitions") or 0)
            + (0 if previous.get("holderIdentity") in (None, self.identity) else 1),
        }
        return spec

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the lease afterwards."""
        started = time.monotonic()
        try:
            lease = await self.api.get(LEASE, self.name, self.namespace)
        except kube.NotFound:
            try:
                await self.api.create({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(None),
                })
                self.renewed_at = started
                return True
            except kube.Conflict:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = f"{holder}|{spec.get('renewTime')}|{spec.get('leaseTransitions')}"
        now = time.monotonic()
        if self._observed is None or self._observed.record != record:
            self._observed = _Observed(holder, lease["metadata"]["resourceVersion"], record, now)
        if holder and holder != self.identity:
            duration = float(spec.get("leaseDurationSeconds") or self.duration)
            if now - self._observed.seen_at < duration:
                return False
        lease["spec"] = self._spec(lease)
        try:
            await self.api.replace(LEASE, lease)
        except kube.Conflict:
            return False
        self.renewed_at = started
        return True

    async def run(self, lost: asyncio.Event) -> None:
        """Campaign until elected (sets `leading`), then renew until the lease cannot be kept (sets `lost`)."""
        self._lost = lost
        while not self.leading.is_set():
            try:
                if await self.try_acquire_or_renew():
                    logger.info("became the leader (lease %s/%s, identity %s)", self.namespace, self.name,
                                self.identity)
                    self.leading.set()
                    break
            except kube.ApiError as error:
                logger.warning("leader election: %s", error)
            await asyncio.sleep(min(self.renew, 2.0))
        last_renewal = time.monotonic()
        while True:
            await asyncio.sleep(self.renew)
            try:
                if await self.try_acquire_or_renew():
                    last_renewal = time.monotonic()
                    continue
                logger.error("lost the lease %s/%s to another replica", self.namespace, self.name)
            except kube.ApiError as error:
                logger.warning("could not renew the lease: %s", error)
                if time.monotonic() - last_renewal < self.duration - self.renew:
                    continue
            lost.set()
            return

    async def release(self) -> None:
        """Give the lease up on a clean shutdown so a standby takes over at once."""
        if not self.leading.is_set():
            return
        try:
            lease = await self.api.get(LEASE, self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.api.replace(LEASE, lease)
        except kube.ApiError as error:
            logger.warning("could not release the lease: %s", error)
