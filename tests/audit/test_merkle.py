"""RFC 9162 Merkle trees: roots, prefix roots, audit paths, and their verification (D2)."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from secretum.audit import merkle


def _reference(data: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written as the RFC defines it."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + _reference(data[:k]) + _reference(data[k:])).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 100])
def test_roots_match_the_rfc_definition(n: int) -> None:
    data = [f"event {i}".encode() for i in range(n)]
    leaves = [merkle.leaf_hash(d) for d in data]
    expected = _reference(data)
    assert merkle.root(leaves) == expected
    tree = merkle.levels(leaves) if leaves else [[]]
    assert merkle.prefix_root(tree, n) == expected
    for size in range(n + 1):
        assert merkle.prefix_root(tree, size) == _reference(data[:size])
        resumed = merkle.TreeBuilder(size, merkle.frontier_of(tree, size))
        assert resumed.root() == _reference(data[:size])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.node_hash(a, b) != merkle.leaf_hash(a + b)


def test_builder_resumes_from_its_frontier() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(45)]
    first = merkle.TreeBuilder()
    first.extend(leaves[:29])
    resumed = merkle.TreeBuilder(first.size, first.frontier)
    resumed.extend(leaves[29:])
    assert resumed.root() == merkle.root(leaves)
    with pytest.raises(ValueError):
        merkle.TreeBuilder(29, first.frontier[:-1])


@pytest.mark.parametrize("n", [1, 2, 3, 6, 13, 64, 65])
def test_every_inclusion_proof_verifies_and_no_wrong_one_does(n: int) -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(n)]
    tree = merkle.levels(leaves)
    root = merkle.root(leaves)
    for i in range(n):
        path = merkle.path_from_levels(tree, i)
        assert path == merkle.inclusion_path(i, leaves)
        assert merkle.verify_inclusion(i, n, leaves[i], path, root)
        assert not merkle.verify_inclusion(i, n, merkle.leaf_hash(b"forged"), path, root)
        if n > 1:
            assert not merkle.verify_inclusion((i + 1) % n, n, leaves[i], path, root)
            assert not merkle.verify_inclusion(i, n, leaves[i], path[:-1], root)
        assert not merkle.verify_inclusion(i, n, leaves[i], [*path, root], root)
        # (The tree size is bound to the root by the signed checkpoint, not by the path.)


def test_positions_outside_the_tree_are_refused() -> None:
    """RFC 9162 2.1.3: no audit path for a leaf the tree does not hold, and no proof of one."""
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    tree = merkle.levels(leaves)
    for index in (-1, 5):
        with pytest.raises(ValueError, match="outside the tree"):
            merkle.inclusion_path(index, leaves)
        with pytest.raises(ValueError, match="outside the tree"):
            merkle.path_from_levels(tree, index)
        assert not merkle.verify_inclusion(index, 5, leaves[0], [], merkle.root(leaves))
    with pytest.raises(ValueError, match="beyond the tree"):
        merkle.frontier_of(tree, 6)


# --- packed levels, and a tree built in parts by two processes (D2: `audit verify`) -----------


@pytest.mark.parametrize("batch", [3, 8192])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 64, 100])
def test_packed_levels_are_the_rfc_tree(
    n: int, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Levels hashed a batch of nodes at a time (here also 3, so that pairs cross batches)."""
    monkeypatch.setattr(merkle, "_BATCH", batch)
    data = [f"event {i}".encode() for i in range(n)]
    leaves = [merkle.leaf_hash(d) for d in data]
    assert merkle.leaf_hashes(data) == b"".join(leaves)
    packed = [merkle.Packed(level) for level in merkle.packed_levels(b"".join(leaves))]
    if n:
        assert [[*level] for level in packed] == merkle.levels(leaves)
    for size in range(n + 1):
        assert merkle.prefix_root(packed, size) == _reference(data[:size])
    for i in range(n):
        assert merkle.path_from_levels(packed, i) == merkle.inclusion_path(i, leaves)


def test_a_packed_level_refuses_a_node_it_does_not_hold() -> None:
    level = merkle.Packed(b"".join(merkle.leaf_hash(bytes([i])) for i in range(3)))
    assert len(level) == 3 and level[2] == merkle.leaf_hash(b"\x02")
    for index in (-1, 3):
        with pytest.raises(IndexError):
            level[index]


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 65, 97, 200, 257])
def test_a_tree_joined_from_parts_is_the_whole_tree(
    n: int, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts of `audit verify`'s workers (scan.split: every bound a multiple of 2**height),
    each placed where the whole tree's nodes lie, give the same levels, so every prefix root,
    including those of checkpoints whose size falls inside a part's subtree, is the RFC 9162
    root of that prefix."""
    from secretum.audit import scan

    monkeypatch.setattr(scan, "SPLIT_BLOCKS", 2)
    data = [f"event {i}".encode() for i in range(n)]
    leaves = merkle.leaf_hashes(data)
    bounds, height = scan.split(n, workers)
    assert bounds[0] == 0 and bounds[-1] == n and bounds == sorted(bounds)
    assert all(b % (1 << height) == 0 for b in bounds[:-1])
    if n >= 64:
        assert height >= 3  # subtrees of 8 leaves and more: sizes fall inside them
    offsets = [0, *itertools.accumulate(32 * k for k in merkle.level_sizes(n, height))]
    out = bytearray(b"\xff" * offsets[-1])  # not a hash: a node left unwritten shows
    for lo, hi in itertools.pairwise(bounds):
        part = merkle.packed_levels(leaves[32 * lo : 32 * hi], height)
        merkle.place_levels(out, offsets, lo, part)
    lower = [bytes(out[offsets[h] : offsets[h + 1]]) for h in range(height + 1)]
    joined = lower[:-1] + merkle.packed_levels(lower[-1])
    assert joined == merkle.packed_levels(leaves)
    tree = [merkle.Packed(level) for level in joined]
    for size in range(n + 1):
        assert merkle.prefix_root(tree, size) == _reference(data[:size])
