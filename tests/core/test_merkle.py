"""RFC 6962 Merkle trees: the RFC's published vectors, and properties over random trees."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from labelloop.core.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    subtree_from_leaves,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962 reference data (the certificate-transparency test vectors)
DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
LEAVES = [leaf_hash(bytes.fromhex(d)) for d in DATA]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
CONSISTENCY = [  # (old size, size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def mth(leaves: list[bytes]) -> bytes:
    """The RFC's recursive definition, as written."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def test_roots_match_the_rfc_vectors() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    for n in range(len(LEAVES) + 1):
        assert root_of(LEAVES[:n]).hex() == ROOTS[n]
        assert Frontier.of(LEAVES[:n]).root().hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_rfc_vectors(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, size, subtree_from_leaves(LEAVES[:size]))
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(index, size, LEAVES[index], proof, root)
    assert not verify_inclusion(index, size, LEAVES[index - 1], proof, root)


@pytest.mark.parametrize(("old", "size", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_rfc_vectors(old: int, size: int, path: list[str]) -> None:
    proof = consistency_proof(old, size, subtree_from_leaves(LEAVES[:size]))
    assert [p.hex() for p in proof] == path
    old_root, root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[size])
    assert verify_consistency(old, size, old_root, root, proof)
    if old != size:
        assert not verify_consistency(old, size, bytes.fromhex(ROOTS[old - 1]), root, proof)


leaf_lists = st.lists(st.binary(min_size=0, max_size=8), min_size=1, max_size=70).map(
    lambda xs: [leaf_hash(x + bytes([i % 256])) for i, x in enumerate(xs)]
)


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, cut=st.integers(0, 69))
def test_frontier_extended_in_two_steps_has_the_recursive_root(
    leaves: list[bytes], cut: int
) -> None:
    cut = min(cut, len(leaves))
    first, done1 = Frontier().extend(leaves[:cut], keep_level=2)
    whole, done2 = first.extend(leaves[cut:], keep_level=2)
    assert first.root() == mth(leaves[:cut])
    assert whole.root() == mth(leaves)
    assert whole.size == len(leaves)
    node = subtree_from_leaves(leaves)
    # every perfect subtree of level >= 2 was reported once, with its hash
    seen = {(lvl, i): h for lvl, i, h in done1 + done2}
    assert len(seen) == len(done1) + len(done2)
    expected = {(lvl, i) for lvl in range(2, 8) for i in range(len(leaves) >> lvl)}
    assert set(seen) == expected
    assert all(node(lvl, i) == h for (lvl, i), h in seen.items())


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_proof_verifies_and_a_changed_leaf_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    n = len(leaves)
    node = subtree_from_leaves(leaves)
    root = mth(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(index, n, node)
    assert verify_inclusion(index, n, leaves[index], proof, root)
    assert not verify_inclusion(index, n, leaf_hash(b"other"), proof, root)
    old = data.draw(st.integers(1, n))
    cons = consistency_proof(old, n, node)
    assert verify_consistency(old, n, mth(leaves[:old]), root, cons)
    changed = list(leaves)
    changed[data.draw(st.integers(0, old - 1))] = leaf_hash(b"rewritten")
    # a rewritten prefix: its root no longer matches the old one
    assert not verify_consistency(old, n, mth(changed[:old]), root, cons)
    if old < n:
        assert not verify_consistency(old, n, mth(leaves[:old]), mth(changed), cons)


def test_out_of_range_is_an_error() -> None:
    node = subtree_from_leaves(LEAVES)
    with pytest.raises(ValueError, match="not in a tree of 8"):
        inclusion_proof(8, 8, node)
    with pytest.raises(ValueError, match="between 0 and 8"):
        consistency_proof(9, 8, node)
    assert not verify_inclusion(8, 8, LEAVES[0], [], EMPTY_ROOT)
