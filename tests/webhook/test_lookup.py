"""The webhook's index of instances by template, which a template's deletion is judged by (pure)."""

from __future__ import annotations

from jupyternetes.webhook.lookup import instances_by_template


def _instance(namespace: str, name: str, template: dict[str, str]) -> dict[str, object]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"template": template}}


def test_instances_are_found_by_their_templates_namespace_and_name_and_sorted() -> None:
    index = instances_by_template({"items": [
        _instance("b", "two", {"name": "t", "namespace": "kadense"}),
        _instance("a", "one", {"name": "t", "namespace": "kadense"}),
        _instance("a", "other", {"name": "u", "namespace": "kadense"}),
    ]})
    assert index == {("kadense", "t"): ("a/one", "b/two"), ("kadense", "u"): ("a/other",)}


def test_a_reference_without_a_namespace_is_to_the_instances_own() -> None:
    index = instances_by_template({"items": [_instance("team", "one", {"name": "t"})]})
    assert index == {("team", "t"): ("team/one",)}
    assert ("kadense", "t") not in index


def test_an_empty_or_itemless_list_has_no_instances() -> None:
    assert instances_by_template({"items": None}) == {}
    assert instances_by_template({}) == {}
