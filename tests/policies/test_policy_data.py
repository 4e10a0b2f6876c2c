"""The policy data's shape (`jupyternetes.policydata`): the shipped data fits it; a key nobody reads, or a value of
the wrong type that would switch a Rego rule off without a word, is refused with its path by the webhook and by the
chart, whose values schema is generated from the same model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import policydata
from jupyternetes.webhook import policy
from tests.seeds import REPO_ROOT
from tests.support import helm

SHIPPED: dict[str, Any] = yaml.safe_load((REPO_ROOT / "policies" / "data.yaml").read_text())["jupyternetes"]["config"]


def test_the_shipped_data_fits() -> None:
    assert policydata.problems(SHIPPED) == []


@pytest.mark.parametrize(("section", "value", "words"), [
    ("labels", {"forbidden": {"hub.jupyter.org/network-access-singleuser": "*"}},
     "labels.forbidden['hub.jupyter.org/network-access-singleuser']: input should be a valid list (found '*')"),
    ("labels", {"forbidden": {"hub.jupyter.org/network-access-singleuser": [True]}},
     "labels.forbidden['hub.jupyter.org/network-access-singleuser'][0]: input should be a valid string (found True)"),
    ("labels", {"forbidden": {"component": []}}, "labels.forbidden.component: list should have at least 1 item"),
    ("images", {"allowed": "quay.io/jupyter/*"}, "images.allowed: input should be a valid list"),
    ("images", {"require_digest": "yes"}, "images.require_digest: input should be a valid boolean (found 'yes')"),
    ("identity", {"allow_token_mount": 1}, "identity.allow_token_mount: input should be a valid boolean"),
    ("identity", {"allowed_token_audiences": [""]},
     "identity.allowed_token_audiences[0]: string should have at least 1 character (found '')"),
    ("modes", {"images": "deny"}, "modes.images: input should be 'enforce', 'warn' or 'audit' (found 'deny')"),
    ("imagse", {"allowed": []}, "imagse: no policy reads this key; check its spelling, or put data for your own"),
    ("storage", {"allow_existing_volume": True}, "storage.allow_existing_volume: no policy reads this key"),
    ("variables", {"max_length": "4096"}, "variables.max_length: input should be a valid integer"),
    ("variables", {"patterns": {"jupyterhub.user.id": "(?<=a)b"}},
     "variables.patterns['jupyterhub.user.id']: '(?<=a)b' is not a regular expression in RE2's syntax"),
    ("variables", {"patterns": {"jupyterhub.user.id": "[0-9]+)|([0-9]+"}},
     "variables.patterns['jupyterhub.user.id']: '[0-9]+)|([0-9]+' is not a regular expression in RE2's syntax"),
    ("variables", {"patterns": {"jupyterhub.user.id": "\\Q12"}},
     "variables.patterns['jupyterhub.user.id']: '\\\\Q12' is not a regular expression in RE2's syntax"),
    ("variables", {"patterns": {"jupyterhub.user.id": "\\C+"}},
     "variables.patterns['jupyterhub.user.id']: '\\\\C+' uses \\C (any byte), which OPA does not accept"),
])
def test_a_mistake_that_would_switch_a_rule_off_is_refused_with_its_path(
    tmp_path: Path, section: str, value: Any, words: str,
) -> None:
    config = {**SHIPPED, section: value}
    assert any(problem.startswith(words) for problem in policydata.problems(config)), policydata.problems(config)
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"jupyternetes": {"config": config}}))
    with pytest.raises(ValueError, match=r"data\.yaml: .*" + words.split(":")[0].replace("[", r"\[").replace(
            "]", r"\]").replace(".", r"\.")):
        policy.load_data(tmp_path)


def test_data_for_the_officers_own_policies_goes_under_custom() -> None:
    assert policydata.problems({**SHIPPED, "custom": {"projects": {"genomics": ["alice"]}}}) == []


def test_the_charts_values_schema_for_policy_data_is_the_models() -> None:
    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    assert schema["properties"]["webhook"]["properties"]["policyData"] == policydata.values_schema()


def test_the_chart_refuses_such_a_mistake_at_install(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"webhook": {"policyData": {"labels": {"forbidden": {
        "hub.jupyter.org/network-access-singleuser": "*"}}}}}))
    done = helm.template(str(values))
    assert done.returncode != 0 and "/webhook/policyData/labels/forbidden/hub.jupyter.org~1network-access-singleuser" \
        in done.stderr, done.stderr
    values.write_text(yaml.safe_dump({"webhook": {"policyData": {"imagse": {"allowed": []}}}}))
    done = helm.template(str(values))
    assert done.returncode != 0 and "imagse" in done.stderr, done.stderr
