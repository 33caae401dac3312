"""A three-node Weaviate cluster on loopback with replication factor 3: with one node stopped,
reads and writes at QUORUM go on, and what was written before is still there."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from weaviate.classes.config import Configure
from weaviate.classes.config import ConsistencyLevel as Consistency

from agentmem import (
    AgentMem,
    AgentMemSettings,
    BackendUnavailable,
    LocalSettings,
    WeaviateSettings,
)
from agentmem.local import LocalWeaviateCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWeaviateCluster]:
    nodes = LocalWeaviateCluster(Path(tmp_path_factory.mktemp("weaviate-cluster")), size=3)
    nodes.up()
    yield nodes
    nodes.down()


def _settings(cluster: LocalWeaviateCluster, node: int) -> AgentMemSettings:
    return AgentMemSettings(
        weaviate=WeaviateSettings(url=cluster.urls[node], grpc_port=cluster.ports[node].grpc),
        local=LocalSettings(autostart=False),
    )


def test_quorum_reads_and_writes_survive_one_stopped_node(
    cluster: LocalWeaviateCluster, unique_collection: str
) -> None:
    with AgentMem(_settings(cluster, 0)) as mem:
        client = mem.weaviate()
        client.collections.create(
            unique_collection,
            replication_config=Configure.replication(factor=3),
        )
        notes = client.collections.use(unique_collection)
        nodes = client.cluster.nodes()
        assert sorted(n.name for n in nodes) == ["node1", "node2", "node3"]

        everywhere = notes.with_consistency_level(Consistency.ALL)
        before = everywhere.data.insert({"text": "written while all three nodes run"})

        cluster.stop(2)
        quorum = notes.with_consistency_level(Consistency.QUORUM)
        after = quorum.data.insert({"text": "written with one node down"})
        fetched = {
            str(o.uuid): o.properties["text"] for o in quorum.query.fetch_objects(limit=10).objects
        }
        assert fetched == {
            str(before): "written while all three nodes run",
            str(after): "written with one node down",
        }
        assert quorum.query.fetch_object_by_id(before) is not None
        # Every node holds a replica: a client connected to node 2 reads the same data.
    with AgentMem(_settings(cluster, 1)) as other:
        replica = other.weaviate().collections.use(unique_collection)
        one = replica.with_consistency_level(Consistency.ONE)
        assert one.query.fetch_object_by_id(after) is not None
    cluster.up()  # bring node 3 back for any later test


def test_long_term_memory_keeps_working_at_quorum_with_a_node_down(
    cluster: LocalWeaviateCluster, unique_collection: str
) -> None:
    from agentmem.longterm import LongTermMemory, MemoryRecord

    replicated = AgentMemSettings(
        weaviate=WeaviateSettings(url=cluster.urls[0], grpc_port=cluster.ports[0].grpc,
                                  replication_factor=3, consistency="QUORUM"),
        local=LocalSettings(autostart=False),
    )  # fmt: skip
    with AgentMem(replicated) as mem:
        memory = LongTermMemory(mem, tenant="ada", collection=unique_collection)
        memory.add([MemoryRecord("Ada prefers green tea", id="tea")])
        config = mem.weaviate().collections.use(unique_collection).config.get()
        assert config.replication_config.factor == 3
        cluster.stop(1)
        try:
            memory.add([MemoryRecord("Ada's cat is called Turing", id="cat")])
            found = {hit.record.id for hit in memory.search("Ada tea cat", k=5)}
            assert found == {"tea", "cat"}
            assert [r.text for r in memory.get(["tea"])] == ["Ada prefers green tea"]
        finally:
            cluster.up()


def test_a_cluster_that_cannot_start_stops_the_nodes_it_started(tmp_path: Path) -> None:
    nodes = LocalWeaviateCluster(tmp_path, size=3)
    blocker = socket.socket()  # node 3's REST port is taken: node 3 exits, no quorum forms
    blocker.bind(("127.0.0.1", nodes.ports[2].http))
    blocker.listen()
    try:
        with pytest.raises(BackendUnavailable, match="did not come up"):
            nodes.up(timeout=15)
        assert [node.status()[1].pid for node in nodes.nodes] == [None, None, None]
        for ports in nodes.ports[:2]:  # nothing listens on the ports of the nodes it started
            with socket.socket() as probe:  # (SO_REUSEADDR: closed connections may linger)
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", ports.http))
                probe.listen()
    finally:
        blocker.close()
        nodes.down()
