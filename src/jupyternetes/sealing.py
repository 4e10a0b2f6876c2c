"""Sealed variables: secrets that the spawner encrypts to the operator's public key, so that whoever can read an
instance (the hub itself, people with read access) cannot read them.

ECDH on P-256 with a fresh ephemeral key per value, HKDF-SHA256, and ChaCha20-Poly1305. (P-256 rather than X25519
so that the Helm chart can generate the operator's key with its own `genPrivateKey "ecdsa"`.) The associated data
binds each sealed value to the instance as a whole: its namespace and name, its template reference, every plain
variable, and the variable's own name. A sealed value copied into another instance, another variable, or an instance
of the same name with another template or other plain values does not open. Only the operator holds the private
key; it opens the values into a Secret owned by the instance, which the pod reads through `secretKeyRef` or
`envFrom`.

Format (base64 of): version byte 2, the ephemeral public key (65 bytes, uncompressed point), a nonce (12 bytes), the
ciphertext.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from jupyternetes.models import Instance

VERSION: Final = 2
_INFO: Final = b"jupyternetes sealed variable v2"
_CURVE: Final = ec.SECP256R1()
_POINT: Final = 65

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


class SealingError(ValueError):
    """A sealed value cannot be opened: wrong key, tampered, or bound to another instance or variable."""


def binding(*, namespace: str, instance: str, template_name: str, template_namespace: str,
            variables: Mapping[str, str]) -> bytes:
    """What a sealed value is bound to: the instance as a whole, as canonical JSON. The template namespace is the
    resolved one (the instance's own when the reference leaves it out), so equal instances bind equally."""
    return json.dumps({"namespace": namespace, "instance": instance,
                       "template": {"name": template_name, "namespace": template_namespace or namespace},
                       "variables": dict(sorted(variables.items()))},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def instance_binding(instance: Instance) -> bytes:
    """`binding` of a parsed instance."""
    ref = instance.spec.template
    namespace = instance.metadata.namespace or ""
    return binding(namespace=namespace, instance=instance.metadata.name, template_name=ref.name,
                   template_namespace=ref.namespace or namespace, variables=instance.spec.variables)


def _aad(bound_to: bytes, variable: str) -> bytes:
    return bound_to + b"\x00" + variable.encode()


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def _raw(public: PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def new_private_key() -> PrivateKey:
    return ec.generate_private_key(_CURVE)


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _CURVE.name:
        raise ValueError("the sealing key must be a P-256 (secp256r1) EC private key in PEM")
    return key


def load_public_key(pem: bytes) -> PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _CURVE.name:
        raise ValueError("the operator's sealing key must be a P-256 (secp256r1) EC public key in PEM")
    return key


def read_private_key(path: Path) -> PrivateKey:
    return load_private_key(path.read_bytes())


def seal(public: PublicKey, value: str, *, bound_to: bytes, variable: str) -> str:
    """`value` encrypted so that only the holder of the private key can open it, for this instance (`binding`) and
    variable."""
    ephemeral = ec.generate_private_key(_CURVE)
    ephemeral_raw = _raw(ephemeral.public_key())
    key = _key(ephemeral.exchange(ec.ECDH(), public), ephemeral_raw, _raw(public))
    nonce = os.urandom(12)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, value.encode(), _aad(bound_to, variable))
    return base64.b64encode(bytes([VERSION]) + ephemeral_raw + nonce + ciphertext).decode()


def open_sealed(private: PrivateKey, sealed: str, *, bound_to: bytes, variable: str, instance: str = "") -> str:
    """The plain value, or `SealingError` saying which variable could not be opened (`instance` only names the
    instance in that message)."""
    try:
        blob = base64.b64decode(sealed, validate=True)
    except ValueError:
        raise SealingError(f"sealed variable {variable!r} is not base64") from None
    if len(blob) >= 1 and blob[0] < VERSION:
        raise SealingError(f"sealed variable {variable!r} was sealed in format version {blob[0]}, which is no longer "
                           "accepted; stop the server and start it again so that the spawner seals it anew")
    if len(blob) < 1 + _POINT + 12 + 16 or blob[0] != VERSION:
        raise SealingError(f"sealed variable {variable!r} is not a version {VERSION} sealed value")
    ephemeral_raw, nonce, ciphertext = blob[1:1 + _POINT], blob[1 + _POINT:13 + _POINT], blob[13 + _POINT:]
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ephemeral_raw)
    except ValueError:
        raise SealingError(f"sealed variable {variable!r} carries no valid key") from None
    key = _key(private.exchange(ec.ECDH(), ephemeral), ephemeral_raw, _raw(private.public_key()))
    try:
        plain = ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _aad(bound_to, variable))
    except InvalidTag:
        raise SealingError(
            f"sealed variable {variable!r} does not open with the operator's key for instance {instance or '?'} "
            "(sealed to another key, for another instance, template, plain variables or variable, or altered)"
        ) from None
    try:
        return plain.decode()
    except UnicodeDecodeError:
        raise SealingError(f"sealed variable {variable!r} does not hold UTF-8 text") from None


def seal_instance(public: PublicKey, values: Mapping[str, str], *, bound_to: bytes) -> dict[str, str]:
    """Every value of `values` sealed for the instance that `bound_to` describes (see `binding`)."""
    return {variable: seal(public, value, bound_to=bound_to, variable=variable) for variable, value in values.items()}


def open_instance(private: PrivateKey, instance: Instance) -> dict[str, str]:
    """Every sealed variable of a parsed instance, opened; `SealingError` names the first that does not open."""
    bound_to = instance_binding(instance)
    label = f"{instance.metadata.namespace}/{instance.metadata.name}"
    return {variable: open_sealed(private, value, bound_to=bound_to, variable=variable, instance=label)
            for variable, value in instance.spec.sealed_variables.items()}
