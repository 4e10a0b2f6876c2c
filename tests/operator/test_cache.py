"""The operator's cache when an instance is deleted and created again under the same name, and the watch hands over
the two objects' events out of order (found in CI: the newer instance was dropped and never provisioned)."""

from __future__ import annotations

from typing import Any

from jupyternetes.operator.cache import Cache


def _instance(uid: str, resource_version: int) -> dict[str, Any]:
    return {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": "erin", "namespace": "users", "uid": uid, "resourceVersion": str(resource_version)}}


class TestSameNameTwice:
    def test_the_old_instances_late_deletion_leaves_the_new_one(self) -> None:
        cache = Cache()
        cache.put_instance(_instance("new", 20))
        assert cache.drop_instance(_instance("old", 10)) is None
        assert cache.instances[("users", "erin")]["metadata"]["uid"] == "new"

    def test_the_old_instances_late_update_does_not_replace_the_new_one(self) -> None:
        cache = Cache()
        cache.put_instance(_instance("new", 20))
        cache.put_instance(_instance("old", 15))
        assert cache.instances[("users", "erin")]["metadata"]["uid"] == "new"

    def test_in_order_events_still_replace_and_drop(self) -> None:
        cache = Cache()
        cache.put_instance(_instance("old", 10))
        assert cache.drop_instance(_instance("old", 11)) == ("users", "erin")
        assert ("users", "erin") not in cache.instances
        cache.put_instance(_instance("old", 10))
        cache.put_instance(_instance("new", 20))
        assert cache.instances[("users", "erin")]["metadata"]["uid"] == "new"
