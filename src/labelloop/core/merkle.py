"""RFC 6962 Merkle trees over the event log: roots, an incremental frontier, inclusion and
consistency proofs and their verification.

Leaves are the events in chain order; leaf ``i`` (0-based) is the event with ``seq = i + 1``.
A leaf hash is ``SHA-256(0x00 || event hash)`` (the event's 32 hash bytes) and an interior
node ``SHA-256(0x01 || left || right)``; the root of ``n`` leaves splits them at the largest
power of two below ``n`` (RFC 6962 section 2.1), so trees, proofs and roots agree with any
other implementation of the RFC (tested against its published vectors).

Kept incrementally: a :class:`Frontier` holds the roots of the perfect subtrees that make up
the tree so far (one per set bit of its size, at most 64), which is all that appending more
leaves and computing the root need. Proofs need the hashes of older subtrees: the functions
take ``subtree(level, index)``, the root of the perfect subtree of ``2**level`` leaves
starting at leaf ``index * 2**level``, and the caller decides where those come from (stored
nodes, or leaves rehashed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root of the empty tree (RFC 6962: the hash of the empty string)."""

Subtree = Callable[[int, int], bytes]
"""``subtree(level, index)``: root of the perfect subtree of leaves
``[index * 2**level, (index + 1) * 2**level)``."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``.

    Examples
    --------
    >>> leaf_hash(b"").hex()[:16]
    '6e340b9cffb37a98'
    """
    return hashlib.sha256(b"\x00" + data).digest()


def event_leaf(event_hash: str) -> bytes:
    """Leaf hash of an event: ``SHA-256(0x00 || bytes of its hex hash)``."""
    return leaf_hash(bytes.fromhex(event_hash))


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """Root of a tree over leaf hashes (the RFC's MTH, computed bottom-up).

    Examples
    --------
    >>> root_of([]) == EMPTY_ROOT
    True
    >>> root_of([leaf_hash(b"")]).hex()[:16]
    '6e340b9cffb37a98'
    """
    return Frontier.of(leaves).root()


@dataclass(frozen=True)
class Frontier:
    """The tree so far: its size and the roots of its perfect subtrees, largest first.

    ``hashes[k]`` is the root of ``2**level`` leaves for the k-th set bit of ``size`` from the
    top, so a tree of 6 leaves has two: leaves 0-3 and leaves 4-5.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    @staticmethod
    def of(leaves: Iterable[bytes]) -> Frontier:
        return Frontier().extend(leaves)[0]

    def levels(self) -> list[int]:
        """Level of each of :attr:`hashes` (bits of ``size``, highest first)."""
        return [b for b in range(self.size.bit_length() - 1, -1, -1) if self.size >> b & 1]

    def root(self) -> bytes:
        """Root of the tree (RFC 6962 MTH of all its leaves)."""
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def extend(
        self, leaves: Iterable[bytes], *, keep_level: int | None = None
    ) -> tuple[Frontier, list[tuple[int, int, bytes]]]:
        """The frontier after appending ``leaves``, and the perfect subtrees completed on
        the way at ``keep_level`` or above as ``(level, index, hash)`` (none when
        ``keep_level`` is None).

        Examples
        --------
        >>> f, done = Frontier().extend([leaf_hash(b"a"), leaf_hash(b"b")], keep_level=1)
        >>> f.size, len(f.hashes), [(lvl, i) for lvl, i, _ in done]
        (2, 1, [(1, 0)])
        """
        levels = self.levels()
        stack = list(zip(levels, self.hashes, strict=True))
        size = self.size
        done: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            level, h = 0, leaf
            size += 1
            while stack and stack[-1][0] == level:
                h = node_hash(stack.pop()[1], h)
                level += 1
                if keep_level is not None and level >= keep_level:
                    done.append((level, (size >> level) - 1, h))
            stack.append((level, h))
        return Frontier(size, tuple(h for _, h in stack)), done


def _mth(lo: int, hi: int, subtree: Subtree) -> bytes:
    """Root of leaves ``[lo, hi)`` where ``lo`` is aligned to the tree's splits."""
    n = hi - lo
    if n & (n - 1) == 0:  # a perfect subtree
        level = n.bit_length() - 1
        return subtree(level, lo >> level)
    k = _split(n)
    return node_hash(_mth(lo, lo + k, subtree), _mth(lo + k, hi, subtree))


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 2.1.1), leaf
    side first.

    Examples
    --------
    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> node = subtree_from_leaves(leaves)
    >>> proof = inclusion_proof(2, 5, node)
    >>> verify_inclusion(2, 5, leaves[2], proof, root_of(leaves))
    True
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_mth(lo + k, hi, subtree))
            hi = lo + k
        else:
            path.append(_mth(lo, lo + k, subtree))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(old_size: int, size: int, subtree: Subtree) -> list[bytes]:
    """Proof that the tree of ``old_size`` leaves is a prefix of the tree of ``size``
    (RFC 6962 2.1.2), smallest subtrees first.

    Examples
    --------
    >>> leaves = [leaf_hash(bytes([i])) for i in range(7)]
    >>> node = subtree_from_leaves(leaves)
    >>> proof = consistency_proof(3, 7, node)
    >>> verify_consistency(3, 7, root_of(leaves[:3]), root_of(leaves), proof)
    True
    """
    if not 0 <= old_size <= size:
        raise ValueError(f"size {old_size} is not between 0 and {size}")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_mth(lo + k, hi, subtree))
            hi = lo + k
        else:
            proof.append(_mth(lo, lo + k, subtree))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_mth(lo, hi, subtree))
    proof.reverse()
    return proof


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with ``root``
    (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
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
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of ``old_size`` with ``old_root`` is a prefix of the
    tree of ``size`` with ``root`` (RFC 9162 2.1.4.2)."""
    if not 0 <= old_size <= size:
        return False
    if old_size == size:
        return not proof and old_root == root
    if old_size == 0:
        return not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == root


def subtree_from_leaves(leaves: Sequence[bytes], offset: int = 0) -> Subtree:
    """A :data:`Subtree` that rehashes ``leaves`` (leaf hashes from leaf ``offset`` on)."""

    def subtree(level: int, index: int) -> bytes:
        lo = (index << level) - offset
        span = leaves[lo : lo + (1 << level)]
        if lo < 0 or len(span) != 1 << level:
            raise ValueError(f"subtree {level}/{index} is outside the leaves given")
        return root_of(span)

    return subtree
