"""Property tests: no variable value, however hostile, can change the structure of what a template renders.

Substitution happens on parsed objects, so a value can only ever become characters inside the string it was put in.
These tests generate arbitrary template structures and hostile values and check that the rendered object has exactly
the template's shape (the same keys, list lengths and types everywhere) and that each string is the template string
with the values spliced in literally.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyternetes import models, render
from tests.render.helpers import instance, pod_entry, template

VARIABLES = ("user", "team", "jupyterhub.api_token")

HOSTILE_FRAGMENTS = [
    '"', "'", "\\", "{", "}", "{{", "}}", "{user}", "{team}", "{{user}}", "\n", "\r\n", "\t", "\x00",
    "\nkind: Secret\n", "---\napiVersion: v1\n", '", "privileged": true, "x": "', "'}], \"hostPath\": {\"path\": \"/",
    "]}", "${HOME}", "$(JUPYTERHUB_API_TOKEN)", "!!python/object/apply:os.system", "&anchor", "*anchor", "# comment",
    "key: value", "- item", "null", "true", "0x1F", "1e309", "<script>", "\u2028", "\ud7ff", "🙂",
]

hostile_values = st.one_of(
    st.text(),
    st.lists(st.sampled_from(HOSTILE_FRAGMENTS), max_size=8).map("".join),
    # Long values, up to the longest an instance may carry (the CRD and the models refuse longer ones).
    st.tuples(st.sampled_from(HOSTILE_FRAGMENTS), st.integers(1, 5_000)).map(
        lambda t: (t[0] * t[1])[:models.MAX_VARIABLE_VALUE_LENGTH]),
)
variable_values = st.fixed_dictionaries({name: hostile_values for name in VARIABLES})

literal_text = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=12)
placeholder = st.sampled_from(VARIABLES).map(lambda name: "{" + name + "}")
escaped_brace = st.sampled_from(["{{", "}}"])
template_string = st.lists(st.one_of(literal_text, placeholder, escaped_brace), max_size=6).map("".join)
field_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_-", min_size=1, max_size=10)
scalars = st.one_of(template_string, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))


def _json_like(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(field_name, children, max_size=4),
        ),
        max_leaves=25,
    )


pod_specs = st.dictionaries(field_name, _json_like(scalars), max_size=5)
label_maps = st.dictionaries(st.one_of(field_name, placeholder.map(lambda p: "x-" + p)), template_string,
                             max_size=3)


def _expected_string(text: str, values: dict[str, str]) -> str:
    """An independent reference for one string: split on the escapes, then on placeholders."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("{{", i):
            out.append("{")
            i += 2
        elif text.startswith("}}", i):
            out.append("}")
            i += 2
        elif text[i] == "{":
            end = text.index("}", i)
            out.append(values[text[i + 1 : end]])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _assert_same_shape(source: Any, rendered: Any, values: dict[str, str], path: str = "") -> None:
    assert type(source) is type(rendered), f"{path}: type changed from {type(source)} to {type(rendered)}"
    if isinstance(source, str):
        assert rendered == _expected_string(source, values), path
    elif isinstance(source, dict):
        assert list(rendered) == list(source), f"{path}: keys changed"
        for key in source:
            _assert_same_shape(source[key], rendered[key], values, f"{path}.{key}")
    elif isinstance(source, list):
        assert len(rendered) == len(source), f"{path}: list length changed"
        for index, (a, b) in enumerate(zip(source, rendered, strict=True)):
            _assert_same_shape(a, b, values, f"{path}[{index}]")
    else:
        assert rendered == source, path


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(spec=pod_specs, values=variable_values)
def test_no_value_changes_the_shape_of_a_pod_spec(spec: dict[str, Any], values: dict[str, str]) -> None:
    manifests = render.render(template(pods=[pod_entry(spec)]), instance(values))
    _assert_same_shape(spec, manifests.pods[0].manifest["spec"], values)


@PROPERTY_SETTINGS
@given(labels=label_maps, annotations=label_maps, values=variable_values)
def test_labels_and_annotations_only_ever_gain_jupyternetes_own_keys(
    labels: dict[str, str], annotations: dict[str, str], values: dict[str, str]
) -> None:
    tpl = template(pods=[pod_entry({"containers": []}, labels=labels, annotations=annotations)])
    try:
        manifest = render.render(tpl, instance(values)).pods[0].manifest
    except render.RenderError as error:
        # The only allowed failure: two keys that collide, or a key that becomes a reserved one.
        assert all("both become" in p or "set by Jupyternetes" in p for p in error.problems), error.problems
        return
    expected_labels = {_expected_string(k, values): _expected_string(v, values) for k, v in labels.items()}
    rendered_labels = manifest["metadata"]["labels"]
    assert {k: rendered_labels[k] for k in expected_labels} == expected_labels
    own = render.render(template(pods=[pod_entry({"containers": []})]), instance(values)).pods[0].manifest["metadata"]
    assert set(rendered_labels) - set(expected_labels) == set(own["labels"])  # only Jupyternetes' own keys added
    expected_annotations = {_expected_string(k, values): _expected_string(v, values) for k, v in annotations.items()}
    rendered_annotations = manifest["metadata"]["annotations"]
    assert {k: rendered_annotations[k] for k in expected_annotations} == expected_annotations
    assert set(rendered_annotations) - set(expected_annotations) == set(own["annotations"])


@PROPERTY_SETTINGS
@given(values=variable_values)
def test_a_whole_field_placeholder_becomes_exactly_the_value_and_survives_serialisation(
    values: dict[str, str]
) -> None:
    spec = {"containers": [{"name": "c", "image": "img", "args": ["{user}"],
                            "env": [{"name": "TOKEN", "value": "{jupyterhub.api_token}"}]}]}
    manifest = render.render(template(pods=[pod_entry(spec)]), instance(values)).pods[0].manifest
    container = manifest["spec"]["containers"][0]
    assert container["args"] == [values["user"]]
    assert container["env"] == [{"name": "TOKEN", "value": values["jupyterhub.api_token"]}]
    # Whatever serialises the result afterwards (the API client sends JSON) gets the same object back.
    assert json.loads(json.dumps(manifest)) == manifest
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest
    assert set(container) == {"name", "image", "args", "env"}
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
