from __future__ import annotations

from collections.abc import Iterator

import pytest

from jupyternetes.dev.cluster import LocalCluster
from tests.support.stacks import Stack, webhook_stack


@pytest.fixture(scope="module")
def stack(cluster: LocalCluster) -> Iterator[Stack]:
    with webhook_stack(cluster) as running:
        yield running
