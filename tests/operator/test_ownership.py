"""Which existing objects were made for this very instance (pure functions of reconcile, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyternetes import constants
from jupyternetes.operator.reconcile import made_for

INSTANCE: dict[str, Any] = {"metadata": {"name": "kate", "namespace": "default", "uid": "uid-now",
                                         "creationTimestamp": "2026-12-05T20:00:05Z"}}


def _claim(*, owner_uid: str | None, created: str) -> dict[str, Any]:
    refs = [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND, "name": "kate", "uid": owner_uid,
             "controller": True}] if owner_uid else []
    return {"metadata": {"name": "home-kate", "ownerReferences": refs, "creationTimestamp": created}}


@pytest.mark.parametrize(("owner_uid", "created", "expected"), [
    # Made by the operator for this instance (owned), whenever: not reused, even if the status does not list it yet.
    ("uid-now", "2026-12-05T20:00:06Z", True),
    # A kept workspace (no owner) made after this instance was: made for it (its status was not written yet).
    (None, "2026-12-05T20:00:06Z", True),
    (None, "2026-12-05T20:00:05Z", True),
    # A kept workspace older than the instance: an earlier server's, reused.
    (None, "2026-11-30T09:00:00Z", False),
])
def test_a_claim_made_for_this_instance_is_not_called_reused(owner_uid: str | None, created: str,
                                                             expected: bool) -> None:
    assert made_for(_claim(owner_uid=owner_uid, created=created), INSTANCE) is expected


def test_without_timestamps_a_kept_claim_counts_as_reused() -> None:
    assert made_for({"metadata": {}}, INSTANCE) is False
