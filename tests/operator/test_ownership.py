"""Which existing objects were made for this very instance (pure functions of reconcile, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyternetes import constants
from jupyternetes.operator.reconcile import made_for

INSTANCE: dict[str, Any] = {"metadata": {"name": "kate", "namespace": "default", "uid": "uid-now"}}


def _claim(*, owner_uid: str | None) -> dict[str, Any]:
    refs = [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND, "name": "kate", "uid": owner_uid,
             "controller": True}] if owner_uid else []
    return {"metadata": {"name": "home-kate", "ownerReferences": refs}}


@pytest.mark.parametrize(("owner_uid", "expected"), [
    # Made by the operator for this instance (owned): not reused, even if the status does not list it yet.
    ("uid-now", True),
    # Owned by an earlier instance of the same name (which the garbage collector is removing): not made for this one.
    ("uid-before", False),
    # A kept workspace (no owner): it cannot say which instance it was made for, so it counts as reused.
    (None, False),
])
def test_only_a_claim_this_instance_controls_was_made_for_it(owner_uid: str | None, expected: bool) -> None:
    assert made_for(_claim(owner_uid=owner_uid), INSTANCE) is expected
