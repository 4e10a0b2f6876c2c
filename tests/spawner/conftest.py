from __future__ import annotations

from collections.abc import Iterator

import pytest

from jupyternetes.dev import components
from jupyternetes.dev.cluster import OFFICER, LocalCluster
from tests import seeds
from tests.support.stacks import Stack, stop, webhook_stack


@pytest.fixture(scope="module")
def provisioning(cluster: LocalCluster) -> Iterator[Stack]:
    """The webhook and OPA, the operator with its sealing key, and the seed's template stored through the webhook."""
    with webhook_stack(cluster) as stack:
        operator = components.start_operator(cluster, name="operator-for-spawner")
        cluster.kubectl("delete", "jnt", "default-template", "-n", "kadense", "--ignore-not-found")
        done = cluster.kubectl("apply", "-f", "-", identity=OFFICER, input=seeds.seed_yaml_blocks()[0])
        assert done.returncode == 0, done.stderr
        try:
            yield stack
        finally:
            stop(cluster, operator)
