"""Signed checkpoints of the event log: (origin, size, root) signed with Ed25519.

The signed text is the checkpoint body of the C2SP ``tlog-checkpoint`` format: the origin
line, the tree size in decimal and the base64 root, each ending in a newline. A key is named
by its id: the hex SHA-256 of its 32 raw public-key bytes. Pure functions (bytes in, bytes
out); making a key (randomness) and keeping it (files) are the caller's.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


@dataclass(frozen=True)
class Checkpoint:
    """The log of ``origin`` had ``size`` events whose RFC 6962 root is ``root``."""

    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        """The signed text.

        Examples
        --------
        >>> Checkpoint("labelloop/demo", 2, bytes(32)).body()
        b'labelloop/demo\\n2\\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n'
        """
        if "\n" in self.origin or not self.origin:
            raise ValueError(f"origin {self.origin!r}: expected one non-empty line")
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n".encode()


def key_id(public_key: bytes) -> str:
    """Hex SHA-256 of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()


def public_key_of(private_key: bytes) -> bytes:
    """Raw public key of a raw 32-byte Ed25519 private key."""
    return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def sign_checkpoint(checkpoint: Checkpoint, private_key: bytes) -> bytes:
    """Ed25519 signature (64 bytes) of the checkpoint's body."""
    return Ed25519PrivateKey.from_private_bytes(private_key).sign(checkpoint.body())


def verify_checkpoint(checkpoint: Checkpoint, public_key: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the key's signature of the checkpoint's body.

    Examples
    --------
    >>> secret = bytes(range(32))
    >>> cp = Checkpoint("labelloop/demo", 3, bytes(32))
    >>> sig = sign_checkpoint(cp, secret)
    >>> verify_checkpoint(cp, public_key_of(secret), sig)
    True
    >>> verify_checkpoint(Checkpoint("labelloop/demo", 4, bytes(32)), public_key_of(secret), sig)
    False
    """
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint.body())
    except (InvalidSignature, ValueError):
        return False
    return True
