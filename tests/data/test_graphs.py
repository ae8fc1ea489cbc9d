import gzip

import pytest
import torch

from selfattn.data import (
    collate,
    from_networkx,
    load_node_classification,
    read_edge_list,
    read_gt,
    to_undirected,
    write_gt,
)
from selfattn.data.graph_tool_format import MAGIC


def test_edge_list_file_and_bad_edges(tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("# a triangle and a tail\n0 1\n1 2\n\n2 0  # closing\n2 3\n")
    edge_index, n = read_edge_list(path)
    assert n == 4 and edge_index.tolist() == [[0, 1, 2, 2], [1, 2, 0, 3]]
    with pytest.raises(ValueError, match=r"edges.txt:6: edge 2 -> 3 points to node 3, "
                                         r"expected 0 <= node < 3"):
        read_edge_list(path, num_nodes=3)
    (tmp_path / "bad.txt").write_text("0 1\n1 x\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 'source target'"):
        read_edge_list(tmp_path / "bad.txt")


def test_to_undirected_merges_and_reports():
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 1, 0]])
    out, report = to_undirected(edges, 3)
    assert out.tolist() == [[0, 0, 1, 2], [1, 2, 0, 0]]
    assert report == {"self_loops_removed": 1, "duplicates_merged": 2}
    with pytest.raises(ValueError, match=r"edge_index: edge 0 is \[0, 5\], expected node "
                                         r"numbers in \[0, 3\)"):
        to_undirected(torch.tensor([[0], [5]]), 3)


@pytest.mark.parametrize("name", ["g.gt", "g.gt.gz"])
def test_gt_round_trip_of_a_generated_graph(tmp_path, name):
    edges = torch.tensor([[0, 0, 2, 3, 299], [1, 2, 3, 299, 0]])  # 300 nodes: uint16 ids
    write_gt(tmp_path / name, 300, edges, directed=True,
             vertex_int_properties={"value": list(range(300))}, comment="test graph")
    graph = read_gt(tmp_path / name)
    assert graph.num_nodes == 300 and graph.directed and graph.comment == "test graph"
    assert graph.edge_index.tolist() == edges.tolist()
    assert graph.vertex_properties["value"].tolist() == list(range(300))


def test_gt_corruption_is_reported(tmp_path):
    write_gt(tmp_path / "g.gt", 4, torch.tensor([[0, 1], [1, 3]]))
    raw = (tmp_path / "g.gt").read_bytes()
    assert raw.startswith(MAGIC)
    (tmp_path / "magic.gt").write_bytes(b"GRAPH!" + raw[6:])
    with pytest.raises(ValueError, match=r"magic.gt: starts with b'GRAPH!'"):
        read_gt(tmp_path / "magic.gt")
    (tmp_path / "short.gt").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"short.gt: truncated at byte \d+ while reading"):
        read_gt(tmp_path / "short.gt")
    # neighbour 3 -> 9: past the node count
    bad = bytearray(raw)
    bad[raw.rindex(b"\x03")] = 9
    (tmp_path / "past.gt").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"past.gt: vertex 1 has neighbour 9, expected < 4"):
        read_gt(tmp_path / "past.gt")
    (tmp_path / "zip.gt.gz").write_bytes(gzip.compress(raw)[:-4])
    with pytest.raises(ValueError, match=r"zip.gt.gz: broken gzip"):
        read_gt(tmp_path / "zip.gt.gz")


def test_node_classification_from_a_user_gt_file(tmp_path):
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    write_gt(tmp_path / "chain.gt", 6, edges, vertex_int_properties={"value": [5, 5, 7, 7, 9, 9]})
    task = load_node_classification("football", path=tmp_path / "chain.gt", features="degree")
    assert task.classes == [5, 7, 9] and task.graph.y.tolist() == [0, 0, 1, 1, 2, 2]
    assert task.graph.edge_index.shape == (2, 8) and task.graph.x.shape == (6, 1)
    assert task.info["isolated_nodes"] == 1
    nodes = torch.cat([task.train_nodes, task.validation_nodes, task.test_nodes]).sort().values
    assert nodes.tolist() == list(range(6))


def test_karate_club_and_graph_batches():
    karate = load_node_classification("karate")
    assert karate.graph.x.shape == (34, 34) and karate.info["undirected_edges"] == 78
    assert karate.classes == ["Mr. Hi", "Officer"] and karate.info["class_counts"] == [17, 17]
    nx = pytest.importorskip("networkx")
    big, _ = from_networkx(nx.karate_club_graph(), "club", features="degree")
    small, _ = from_networkx(nx.path_graph(3), features="degree")
    batch = collate([big, small], "packed")
    assert batch.x.shape == (37, 1) and batch.offsets.tolist() == [0, 34, 37]
    assert batch.edge_index.shape == (2, 156 + 4)
    assert batch.edge_index[:, 156:].tolist() == [[34, 35, 35, 36], [35, 34, 36, 35]]


def test_real_graph_tool_collection(real_data):
    football = load_node_classification("football", path=real_data("football") / "football.gt.gz")
    assert football.info["nodes"] == 115 and football.info["undirected_edges"] == 613
    assert len(football.classes) == 12
    books = load_node_classification("polbooks", path=real_data("polbooks") / "polbooks.gt.gz")
    assert books.info["class_counts"] == [49, 43, 13] and books.info["undirected_edges"] == 441
    blogs = load_node_classification("polblogs", path=real_data("polblogs") / "polblogs.gt.gz")
    assert blogs.info["edges_in_file"] == 19090 and blogs.info["class_counts"] == [758, 732]
