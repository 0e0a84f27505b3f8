"""The depends_on graph: cycles and a stable start order. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as [a, b, …, a], or None. Edges to unknown nodes are ignored."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        cycle = _visit(start, edges, state, [])
        if cycle:
            return cycle
    return None


def _visit(node: str, edges, state: dict[str, int], path: list[str]) -> list[str] | None:
    if state.get(node) == 2 or node not in edges:
        return None
    if state.get(node) == 1:
        return [*path[path.index(node) :], node]
    state[node] = 1
    path.append(node)
    for target in edges[node]:
        cycle = _visit(target, edges, state, path)
        if cycle:
            return cycle
    path.pop()
    state[node] = 2
    return None


def dependency_order(nodes: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Every node after the nodes it depends on; among ready nodes, the order given.

    The graph must be acyclic (checked by the loader); edges to unknown nodes are ignored.
    """
    known = set(nodes)
    placed: set[str] = set()
    order: list[str] = []
    while len(order) < len(nodes):
        ready = next(
            n
            for n in nodes
            if n not in placed and all(d in placed or d not in known for d in edges.get(n, ()))
        )
        order.append(ready)
        placed.add(ready)
    return order
