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


def test_the_cache_keeps_only_what_the_operator_reads() -> None:
    """managedFields, kubectl's last-applied copy and most of a pod's spec are dropped (memory at 1,000 servers);
    what status and ownership need stays, and the object handed in is left as it was."""
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "n", "resourceVersion": "5", "uid": "u",
                                       "labels": {"a": "b"}, "ownerReferences": [{"uid": "i", "controller": True}],
                                       "managedFields": [{"manager": "x"}]},
           "spec": {"containers": [{"name": "notebook", "image": "i", "env": [{"name": "E", "value": "v"}],
                                    "ports": [{"name": "http", "containerPort": 8888}]}],
                    "volumes": [{"name": "v"}], "activeDeadlineSeconds": 60},
           "status": {"phase": "Running", "podIP": "10.0.0.1"}}
    cache = Cache()
    cache.put_object(pod)
    kept = cache.get_object("Pod", "n", "p")
    assert kept == {"kind": "Pod",
                    "metadata": {"name": "p", "namespace": "n", "resourceVersion": "5", "uid": "u",
                                 "labels": {"a": "b"}, "ownerReferences": [{"uid": "i", "controller": True}]},
                    "spec": {"containers": [{"name": "notebook", "ports": [{"name": "http", "containerPort": 8888}]}],
                             "activeDeadlineSeconds": 60},
                    "status": {"phase": "Running", "podIP": "10.0.0.1"}}
    assert "managedFields" in pod["metadata"] and "env" in pod["spec"]["containers"][0]
    instance = {"metadata": {"name": "i", "namespace": "n", "uid": "u", "managedFields": [{}], "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "me"}}, "spec": {"variables": {"a": "b"}}}
    cache.put_instance(instance)
    assert cache.instances[("n", "i")] == {"metadata": {"name": "i", "namespace": "n", "uid": "u",
                                                        "annotations": {"keep": "me"}},
                                           "spec": {"variables": {"a": "b"}}}
