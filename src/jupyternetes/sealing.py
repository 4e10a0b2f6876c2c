"""Sealed variables: secrets that the spawner encrypts to the operator's public key, so that whoever can read an
instance (the hub itself, people with read access) cannot read them.

X25519 key agreement with a fresh ephemeral key per value, HKDF-SHA256, and ChaCha20-Poly1305. The associated data
binds each sealed value to the namespace, the instance name and the variable name, so a sealed value copied into
another instance or another variable does not open. Only the operator holds the private key; it opens the values
into a Secret owned by the instance, which the pod reads through `secretKeyRef` or `envFrom`.

Format (base64 of): version byte 1, the ephemeral public key (32 bytes), a nonce (12 bytes), the ciphertext.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = 1
_INFO: Final = b"jupyternetes sealed variable v1"


class SealingError(ValueError):
    """A sealed value cannot be opened: wrong key, tampered, or bound to another instance or variable."""


def _aad(namespace: str, instance: str, variable: str) -> bytes:
    return "\x00".join((namespace, instance, variable)).encode()


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def new_private_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def private_key_pem(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_pem(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(pem: bytes) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, X25519PrivateKey):
        raise ValueError("the sealing key must be an X25519 private key (PEM)")
    return key


def load_public_key(pem: bytes) -> X25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, X25519PublicKey):
        raise ValueError("the operator's sealing key must be an X25519 public key (PEM)")
    return key


def read_private_key(path: Path) -> X25519PrivateKey:
    return load_private_key(path.read_bytes())


def seal(public: X25519PublicKey, value: str, *, namespace: str, instance: str, variable: str) -> str:
    """`value` encrypted so that only the holder of the private key can open it, for this instance and variable."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw(ephemeral.public_key())
    key = _key(ephemeral.exchange(public), ephemeral_raw, _raw(public))
    nonce = os.urandom(12)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, value.encode(), _aad(namespace, instance, variable))
    return base64.b64encode(bytes([VERSION]) + ephemeral_raw + nonce + ciphertext).decode()


def open_sealed(private: X25519PrivateKey, sealed: str, *, namespace: str, instance: str, variable: str) -> str:
    """The plain value, or `SealingError` saying which variable could not be opened."""
    try:
        blob = base64.b64decode(sealed, validate=True)
    except ValueError:
        raise SealingError(f"sealed variable {variable!r} is not base64") from None
    if len(blob) < 1 + 32 + 12 + 16 or blob[0] != VERSION:
        raise SealingError(f"sealed variable {variable!r} is not a version {VERSION} sealed value")
    ephemeral_raw, nonce, ciphertext = blob[1:33], blob[33:45], blob[45:]
    key = _key(private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw)), ephemeral_raw,
               _raw(private.public_key()))
    try:
        plain = ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _aad(namespace, instance, variable))
    except InvalidTag:
        raise SealingError(
            f"sealed variable {variable!r} does not open with the operator's key for instance "
            f"{namespace}/{instance} (sealed to another key, for another instance or variable, or altered)"
        ) from None
    return plain.decode()
