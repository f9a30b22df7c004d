"""RFC 9162 Merkle trees (Certificate Transparency 2.0, section 2.1), standard library only.

A third party can check an inclusion proof printed by ``secretum audit prove`` with this module
alone (and ``cryptography`` for the checkpoint's Ed25519 signature): it imports nothing else
from Secretum and nothing from Django.

    leaf hash   MTH({d})  = SHA-256(0x00 || d)
    node hash   MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of
                two smaller than n
    empty tree  MTH({})   = SHA-256("")

A large tree (``secretum audit verify`` of a whole log) is kept as packed levels, each one bytes
object of 32-byte hashes end to end, hashed with C-level loops (``map`` over hashlib's methods,
each node's hash copied from one that already took in the prefix): a million nodes cost a
million hashes, not also a million Python objects. The leaves may be cut into parts on
multiples of a power of two, each part's lower levels built by a process of its own, and the
parts placed side by side (``place_levels``): the result is the same RFC 9162 tree.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import mmap
from collections.abc import Iterable, Sequence
from typing import Protocol

LEAF_PREFIX = b"\x00"  # RFC 9162 section 2.1.1
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


class TreeBuilder:
    """Appends leaf hashes one by one and gives the root of the tree so far at any size.

    It keeps the roots of the perfect subtrees that make up the tree (at most log2(n) of them,
    largest first), so appending is amortised O(1) and a root is O(log n). The same stack,
    saved beside a checkpoint, lets the next checkpoint extend the tree without reading the
    leaves it already covers.
    """

    __slots__ = ("_stack", "size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if [h for h in frontier if len(h) != 32] or len(frontier) != bin(size).count("1"):
            raise ValueError("a frontier holds one 32-byte hash per bit set in the tree size")
        self.size = size
        # (height, hash) of each perfect subtree, left to right.
        heights = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        self._stack: list[tuple[int, bytes]] = list(zip(heights, frontier, strict=True))

    def append(self, leaf: bytes) -> None:
        stack = self._stack
        height, node = 0, leaf
        n = self.size
        # Merge with the subtrees of equal height: one per trailing 1-bit of the old size.
        while n & 1:
            node = _sha256(NODE_PREFIX + stack.pop()[1] + node).digest()
            height += 1
            n >>= 1
        stack.append((height, node))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    @property
    def frontier(self) -> list[bytes]:
        return [h for _, h in self._stack]

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = _sha256(NODE_PREFIX + left + node).digest()
        return node


def root(leaves: Sequence[bytes]) -> bytes:
    builder = TreeBuilder()
    builder.extend(leaves)
    return builder.root()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 9162 section 2.1.3.1)."""
    if not 0 <= index < len(leaves):
        raise ValueError("leaf index outside the tree")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    # Walk down from the root, keeping the sibling subtree's hash at each level.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            path.append(root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root(leaves[lo : lo + k]))
            lo += k
    path.reverse()  # leaf to root, as RFC 9162 orders it
    return path


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``path`` prove ``leaf`` at ``index`` in the tree?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last, computed a level at a time (fast).

    Pairing neighbours and carrying an odd last node up unchanged gives exactly the RFC 9162
    tree, whose left subtree is always the largest perfect one.
    """
    out = [leaves]
    level = leaves
    h, prefix = _sha256, NODE_PREFIX
    while len(level) > 1:
        it = iter(level)
        upper = [h(prefix + a + b).digest() for a, b in zip(it, it, strict=False)]
        if len(level) & 1:
            upper.append(level[-1])
        out.append(upper)
        level = upper
    return out


# --- packed levels: a million hashes without a million objects --------------------------------


class Level(Protocol):
    """A level of the tree as the functions below read it: a list of hashes, or ``Packed``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> bytes: ...


HASH_SIZE = 32
# The C methods of a hash object: ``map`` calls them without a Python frame per node.
_hash_type = type(_sha256())
_copy, _update, _digest = _hash_type.copy, _hash_type.update, _hash_type.digest
# A hash with its prefix already taken in: copying one is cheaper than starting a new hash.
_NODE_START = _sha256(NODE_PREFIX)
_BATCH = 8192  # nodes hashed at a time (that many hash objects alive at once)


class Packed:
    """A level of the tree as one bytes object, its 32-byte hashes end to end: what a worker
    process hands back in one piece, and what ``frontier_of``, ``prefix_root`` and
    ``path_from_levels`` read like a list of hashes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data) // HASH_SIZE

    def __getitem__(self, index: int) -> bytes:
        if not 0 <= index < len(self):
            raise IndexError("node outside the level")
        return self.data[index * HASH_SIZE : (index + 1) * HASH_SIZE]


def leaf_hashes(entries: Iterable[bytes]) -> bytes:
    """MTH({d}) of each entry, packed end to end; the loop runs in C (no bytecode per entry)."""
    return b"".join(map(_digest, map(_sha256, map(LEAF_PREFIX.__add__, entries))))


def node_level(level: bytes) -> bytes:
    """The level above a packed level: neighbours paired and hashed, an odd last node carried
    up unchanged (see ``levels``)."""
    pair = 2 * HASH_SIZE
    whole = len(level) // pair * pair
    out = []
    for start in range(0, whole, _BATCH * pair):
        end = min(whole, start + _BATCH * pair)
        nodes = list(map(_copy, itertools.repeat(_NODE_START, (end - start) // pair)))
        pairs = map(
            level.__getitem__,
            map(slice, range(start, end, pair), range(start + pair, end + 1, pair)),
        )
        collections.deque(map(_update, nodes, pairs), 0)  # runs the updates, keeps nothing
        out.append(b"".join(map(_digest, nodes)))
    return b"".join(out) + level[whole:]


def packed_levels(leaves: bytes, height: int | None = None) -> list[bytes]:
    """The packed levels of the tree of ``leaves`` (packed leaf hashes), leaves first: up to the
    root, or exactly ``height + 1`` levels (those of a part of the leaves that starts on a
    multiple of 2**height, which a caller joins with its neighbours' to build the whole)."""
    out = [leaves]
    while len(out[-1]) > HASH_SIZE if height is None else len(out) <= height:
        out.append(node_level(out[-1]))
    return out


def level_sizes(n: int, height: int) -> list[int]:
    """How many nodes levels 0..height of the tree of n leaves hold: ceil(n / 2**h) (an odd
    last node carried up counts)."""
    return [-(-n >> h) for h in range(height + 1)]


def place_levels(
    out: bytearray | mmap.mmap, offsets: Sequence[int], first: int, part: Sequence[bytes]
) -> None:
    """Write the levels of a part of the leaves (``packed_levels(part, height)``, the part
    starting at leaf ``first``, a multiple of 2**height) where the whole tree's levels lie in
    ``out``, level h from ``offsets[h]`` (sized by ``level_sizes``): each part's nodes land
    where the whole tree's are, so that the parts, placed, make the whole tree's levels."""
    for h, level in enumerate(part):
        start = offsets[h] + (first >> h) * HASH_SIZE
        out[start : start + len(level)] = level


def frontier_of(tree_levels: Sequence[Level], size: int) -> list[bytes]:
    """The roots of the perfect subtrees that make up the first ``size`` leaves, largest first."""
    if size > len(tree_levels[0]):
        raise ValueError("size beyond the tree")
    nodes: list[bytes] = []
    offset = 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            nodes.append(tree_levels[height][offset >> height])
            offset += 1 << height
    return nodes


def prefix_root(tree_levels: Sequence[Level], size: int) -> bytes:
    """The root of the tree of the first ``size`` leaves, from the levels of a larger tree."""
    if size == 0:
        return EMPTY_ROOT
    nodes = frontier_of(tree_levels, size)
    node = nodes[-1]
    for left in reversed(nodes[:-1]):
        node = node_hash(left, node)
    return node


def path_from_levels(tree_levels: Sequence[Level], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the whole tree, read off its levels."""
    if not 0 <= index < len(tree_levels[0]):
        raise ValueError("leaf index outside the tree")
    path = []
    for level in tree_levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def consistency_path(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 section 2.1.4.1: the proof that the tree of the first ``first`` leaves is a
    prefix of the tree of all ``leaves`` (0 < first <= len(leaves); empty when equal)."""
    if not 0 < first <= len(leaves):
        raise ValueError("a consistency proof needs 0 < first <= second")

    def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [root(leaves[lo:hi])]
        k = _split(n)
        if m <= k:
            return [*subproof(m, lo, lo + k, whole), root(leaves[lo + k : hi])]
        return [*subproof(m - k, lo + k, hi, False), root(leaves[lo : lo + k])]

    return subproof(first, 0, len(leaves), True)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does ``path`` prove the tree of ``first`` leaves (root
    ``first_root``) a prefix of the tree of ``second`` leaves (root ``second_root``)?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    nodes = list(path)
    if first & (first - 1) == 0:  # an exact power of two: its root is the first node
        nodes.insert(0, first_root)
    if not nodes:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
