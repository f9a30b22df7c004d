"""RFC 9162 consistency proofs (D2): a later tree head extends an earlier one, checked with the
standard library alone, so that an outside witness can co-sign the log's growth."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.audit import keys, merkle


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"fictitious event {i}".encode()) for i in range(n)]


def test_every_prefix_is_proved_consistent_and_nothing_else_is() -> None:
    leaves = _leaves(40)
    for second in range(1, 41):
        new_root = merkle.root(leaves[:second])
        for first in range(1, second + 1):
            old_root = merkle.root(leaves[:first])
            path = merkle.consistency_path(first, leaves[:second])
            assert merkle.verify_consistency(first, second, old_root, new_root, path)
            # Another old root, another new root, a node changed, a node dropped: refused.
            assert not merkle.verify_consistency(first, second, new_root[::-1], new_root, path)
            if first < second:
                assert not merkle.verify_consistency(first, second, old_root, old_root, path)
                bad = [hashlib.sha256(path[0]).digest(), *path[1:]]
                assert not merkle.verify_consistency(first, second, old_root, new_root, bad)
                assert not merkle.verify_consistency(first, second, old_root, new_root, path[1:])


def test_the_rfc_9162_shape_of_a_small_proof() -> None:
    """RFC 9162 section 2.1.5's example tree of 7 leaves: PROOF(3, D[7]) = [c, d, g, l]."""
    leaves = _leaves(7)
    path = merkle.consistency_path(3, leaves)
    assert (
        path
        == [
            leaves[2],  # c
            leaves[3],  # d
            merkle.node_hash(leaves[0], leaves[1]),  # g
            merkle.root(leaves[4:7]),  # l
        ]
    )
    assert merkle.consistency_path(4, leaves) == [merkle.root(leaves[4:7])]


def test_nonsense_sizes_are_refused() -> None:
    leaves = _leaves(3)
    with pytest.raises(ValueError, match="0 < first <= second"):
        merkle.consistency_path(0, leaves)
    root = merkle.root(leaves)
    assert not merkle.verify_consistency(0, 3, root, root, [])
    assert not merkle.verify_consistency(4, 3, root, root, [])
    assert not merkle.verify_consistency(2, 2, root, root, [root])  # equal trees: no path
    assert not merkle.verify_consistency(3, 5, root, root, [])  # nothing to start from
    # A path too long for the trees it claims: refused, not read past their roots.
    path = merkle.consistency_path(3, _leaves(4))
    assert not merkle.verify_consistency(3, 4, root, root, [*path, root, root])


def test_the_command_proves_two_signed_checkpoints_consistent(db: Any, capsys: Any) -> None:
    from secretum.access.actor import Actor
    from secretum.audit.checkpoints import create_checkpoint
    from secretum.audit.log import record_event

    for n in (3, 4):
        for _ in range(n):
            record_event(Actor.system(), "read", "session")
        create_checkpoint()
    call_command("audit_consistency", "3")
    proof = json.loads(capsys.readouterr().out)
    assert proof["format"] == "secretum-audit-consistency-proof-1"
    assert (proof["first"]["tree_size"], proof["second"]["tree_size"]) == (3, 7)
    assert merkle.verify_consistency(
        3,
        7,
        bytes.fromhex(proof["first"]["root_hash"]),
        bytes.fromhex(proof["second"]["root_hash"]),
        [bytes.fromhex(h) for h in proof["consistency_path"]],
    )
    # Both tree heads are signed: a witness checks the notes under the published key.
    public = keys.load_public_key_pem(proof["public_key"].encode())
    for c in proof["checkpoints"]:
        public.verify(base64.b64decode(c["signature"]), c["note"].encode())
    call_command("audit_consistency", "3", "7")
    with pytest.raises(CommandError, match="there is no signed checkpoint of 5 events"):
        call_command("audit_consistency", "5")
    with pytest.raises(CommandError, match="the first checkpoint must cover at least one"):
        call_command("audit_consistency", "7", "3")
    from tests.audit.conftest import as_owner, rehash

    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 2")
    rehash(2, with_mac_key=True)
    with pytest.raises(CommandError, match="does not match its checkpoint of 3 events"):
        call_command("audit_consistency", "3")
