"""Deterministic, valid Kubernetes names for everything Jupyternetes generates.

A generated name depends only on its inputs, so a restarted operator (or a user starting the same server again)
finds the same PVC and pod it made before. Every name is a valid DNS-1123 label of at most 63 characters, and carries
a short hash of its full inputs so that two different inputs never map to the same name after truncation or
sanitising.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

DNS1123_LABEL_MAX: Final = 63
DNS1123_SUBDOMAIN_MAX: Final = 253
LABEL_VALUE_MAX: Final = 63
HASH_LENGTH: Final = 8

DNS1123_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_PATTERN)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")


def is_dns1123_label(value: str) -> bool:
    """True if `value` is a valid DNS-1123 label (pod, PVC and namespace names; at most 63 characters)."""
    return len(value) <= DNS1123_LABEL_MAX and bool(_DNS1123_LABEL.fullmatch(value))


def is_dns1123_subdomain(value: str) -> bool:
    """True if `value` is a valid DNS-1123 subdomain (most object names; at most 253 characters)."""
    return len(value) <= DNS1123_SUBDOMAIN_MAX and bool(_DNS1123_SUBDOMAIN.fullmatch(value))


def is_label_value(value: str) -> bool:
    """True if `value` may be used as a label value."""
    return len(value) <= LABEL_VALUE_MAX and bool(_LABEL_VALUE.fullmatch(value))


def is_qualified_name(value: str) -> bool:
    """True if `value` is a valid label or annotation key: an optional DNS subdomain prefix, a slash, a name."""
    prefix, slash, name = value.rpartition("/")
    if slash and not (prefix and is_dns1123_subdomain(prefix)):
        return False
    return len(name) <= LABEL_VALUE_MAX and bool(_LABEL_NAME.fullmatch(name))


def short_hash(*parts: str, length: int = HASH_LENGTH) -> str:
    """A stable hex digest of `parts`; the parts are separated so that ("ab", "c") and ("a", "bc") differ."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def _label_safe(text: str) -> str:
    return _NOT_LABEL_CHARS.sub("-", text.lower()).strip("-")


def object_name(instance_name: str, entry_name: str) -> str:
    """The name of the object rendered for one template entry of one instance.

    `<instance>-<entry>-<hash>`, shortened before the hash so the whole stays within 63 characters. The hash covers
    the unshortened instance and entry names, so names stay unique per instance and entry even when two instance
    names share a long prefix or differ only in characters that are not allowed in a DNS label.
    """
    suffix = "-" + short_hash(instance_name, entry_name)
    base = _label_safe(f"{instance_name}-{entry_name}")[: DNS1123_LABEL_MAX - len(suffix)].rstrip("-")
    return (base or "jupyternetes") + suffix


def label_value(value: str) -> str:
    """`value` itself when it is a valid label value, otherwise a shortened form ending in a hash of it."""
    if is_label_value(value):
        return value
    suffix = "-" + short_hash(value)
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[: LABEL_VALUE_MAX - len(suffix)]
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    return (cleaned or "x") + suffix


_SAFE_SLUG = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Hash length of a slug: 64 bits, so that nobody can choose a user name whose slug is another user's.
SLUG_HASH_LENGTH: Final = 16
_HASHED_SLUG = re.compile(rf"-[0-9a-f]{{{SLUG_HASH_LENGTH}}}$")


def safe_slug(text: str, max_length: int = 24) -> str:
    """`text` itself if it is already a short, safe DNS-label fragment; otherwise a cleaned, shortened form ending in a
    hash of the original. Injective: a text is kept only when it cannot be mistaken for a hashed slug (it does not end
    in a dash and 16 hex digits), so a user named like another user's hashed slug gets a hashed slug of their own."""
    if len(text) <= max_length and _SAFE_SLUG.fullmatch(text) and "--" not in text and not _HASHED_SLUG.search(text):
        return text
    suffix = short_hash(text, length=SLUG_HASH_LENGTH)
    cleaned = re.sub(r"-+", "-", _label_safe(text))[: max_length - len(suffix) - 1].strip("-")
    return f"{cleaned}-{suffix}" if cleaned else f"x-{suffix}"


def instance_name(user: str, server: str = "", prefix: str = "jupyter") -> str:
    """The instance name for a user's server: `jupyter-<user>` or `jupyter-<user>--<server>` (named servers).

    Deterministic (the same user and server always get the same instance, and so the same PVC), collision-free
    (a name that had to be changed carries a hash of the original, and `--` only ever separates user from server),
    and a valid DNS label short enough for the names derived from it.
    """
    name = f"{prefix}-{safe_slug(user)}"
    if server:
        name += f"--{safe_slug(server)}"
    return name
