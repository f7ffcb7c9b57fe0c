"""Every Redis test runs twice: on a single server and on a three-node Redis Cluster."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from polyshop import bootstrap
from polyshop.settings import Settings
from tests.support.redis_servers import RedisCluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    directory = Path(tempfile.mkdtemp(prefix="polyshop-redis-cluster-"))
    cluster = RedisCluster(directory)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session", params=["standalone", "cluster"])
async def rapp(
    request: pytest.FixtureRequest, settings: Settings, urls: bootstrap.StoreUrls
) -> AsyncIterator[bootstrap.Container]:
    """The whole application, with Redis as a single server or as a cluster."""
    if request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        settings = settings.model_copy(update={"redis_cluster": True})
        urls = replace(urls, redis=cluster.url)
    async with bootstrap.application(settings, urls) as container:
        yield container
