"""Generated names: deterministic, valid DNS-1123 labels within 63 characters, unique per instance and entry."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jupyternetes import naming

subdomains = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,250}[a-z0-9])?", fullmatch=True).filter(naming.is_dns1123_subdomain)
entries = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", fullmatch=True)


def test_short_names_read_as_instance_then_entry_then_hash() -> None:
    name = naming.object_name("jupyter-jovyan", "workspace")
    assert name.startswith("jupyter-jovyan-workspace-")
    assert len(name) == len("jupyter-jovyan-workspace-") + naming.HASH_LENGTH


def test_the_same_inputs_give_the_same_name_in_every_process_and_release() -> None:
    """Kept workspaces are found again by name after restarts and upgrades: the names are pinned here, so a change
    to the hashing cannot pass unnoticed."""
    assert naming.object_name("jupyter-jovyan", "workspace") == "jupyter-jovyan-workspace-31ddd992"
    assert naming.object_name("a" * 200, "workspace") == "a" * 54 + "-aef72a19"


def test_names_that_would_read_the_same_still_differ() -> None:
    assert naming.object_name("a-b", "c") != naming.object_name("a", "b-c")
    assert naming.object_name("a.b", "c") != naming.object_name("a-b", "c")
    long_prefix = "x" * 100
    assert naming.object_name(long_prefix + "1", "w") != naming.object_name(long_prefix + "2", "w")


@settings(max_examples=300, deadline=None)
@given(instance=subdomains, entry=entries)
def test_every_generated_name_is_a_valid_dns_label(instance: str, entry: str) -> None:
    name = naming.object_name(instance, entry)
    assert naming.is_dns1123_label(name), name
    assert len(name) <= 63


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=300))
def test_label_values_are_valid_and_only_shortened_when_they_must_be(value: str) -> None:
    result = naming.label_value(value)
    assert naming.is_label_value(result)
    if naming.is_label_value(value):
        assert result == value


def test_qualified_names() -> None:
    assert naming.is_qualified_name("jupyternetes.kadense.io/userId")
    assert naming.is_qualified_name("app")
    assert not naming.is_qualified_name("/app")
    assert not naming.is_qualified_name("Bad_Prefix/app")
    assert not naming.is_qualified_name("a/" + "x" * 64)
