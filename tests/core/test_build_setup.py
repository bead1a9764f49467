"""core/build's set-up check (what the Train page calls before Start) reads the tree's blocks, never a K×K matrix:
the same verdicts as the dense route, and a 10,000-class hierarchy checked without building one."""
from __future__ import annotations

import pytest

from core import FrameConfig, Hierarchy, load_bundled
from core.build import check_config
from core.config import ConfigError
from core.frames import critical_min_similarity


def wide_tree(branching: tuple[int, ...]) -> Hierarchy:
    """A balanced tree with the given number of children per level (leaves at the bottom)."""
    edges, level = [], ["root"]
    for depth, n in enumerate(branching):
        level_next = []
        for parent in level:
            for i in range(n):
                child = f"{parent}.{i}" if depth else f"n{i}"
                edges.append((parent, child))
                level_next.append(child)
        level = level_next
    return Hierarchy.from_edges(edges, name="wide")


@pytest.mark.parametrize("offset", [-0.05, -1e-4, 1e-4, 0.05])
def test_verdicts_match_the_dense_route(tiny_config, offset):
    hierarchy = load_bundled("synthetic")
    star = critical_min_similarity(hierarchy.distance_matrix(), 2.0)
    config = tiny_config.replace(frame=FrameConfig(min_similarity=f"{star + offset:.6f}", gamma=2.0))
    if offset < 0:
        with pytest.raises(ConfigError, match="frame.min_similarity.*infeasible"):
            check_config(config, hierarchy)
    else:
        check_config(config, hierarchy)


def test_ten_thousand_classes_are_checked_without_a_dense_matrix(tiny_config, monkeypatch):
    hierarchy = wide_tree((10, 10, 10, 10))
    assert hierarchy.num_classes == 10_000

    def refuse(self):
        raise AssertionError("check_config built the K×K distance matrix")

    monkeypatch.setattr(Hierarchy, "distance_matrix", refuse)
    check_config(tiny_config.replace(frame=FrameConfig(min_similarity="0.0")), hierarchy)
    with pytest.raises(ConfigError, match="infeasible"):
        check_config(tiny_config.replace(frame=FrameConfig(min_similarity="-0.5")), hierarchy)
