"""The TRE examples work as their comments say: judged by `jupyternetes policy test` with their data merged over the
shipped policies, and rendered by the chart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.seeds import REPO_ROOT
from tests.support import helm, policies

EXAMPLES = REPO_ROOT / "examples"


def _policies_with(values: Path, target: Path) -> Path:
    return policies.with_data(target, yaml.safe_load(values.read_text())["webhook"]["policyData"])


def _policy_test(policies: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies", str(policies),
                           *map(str, files)], capture_output=True, text=True, timeout=120, check=False)


def test_entitlements_admit_the_group_member_and_refuse_the_other_user(tmp_path: Path) -> None:
    example = EXAMPLES / "40-entitlements"
    done = _policy_test(_policies_with(example / "values.yaml", tmp_path / "p"), example / "gpu-notebook.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "ALLOW JupyterNotebookInstance jupyterhub/jupyter-grace" in lines, done.stdout
    assert "DENY JupyterNotebookInstance jupyterhub/jupyter-mallory" in lines, done.stdout
    assert '"mallory" is not entitled to template kadense/gpu-notebook (groups: "stats101") (rule entitlements)' \
        in done.stdout


def test_the_chart_publishes_the_entitlements_for_the_hub_and_lets_it_read_only_them() -> None:
    rendered = helm.rendered(str(EXAMPLES / "40-entitlements" / "values.yaml"))
    configmap = helm.by_kind(rendered, "ConfigMap")[("jupyterhub", "jupyternetes-entitlements")]
    rules = yaml.safe_load(configmap["data"]["rules.json"])
    assert rules == yaml.safe_load((EXAMPLES / "40-entitlements" / "values.yaml").read_text())[
        "webhook"]["policyData"]["entitlements"]["rules"]
    role = helm.by_kind(rendered, "Role")[("jupyterhub", "jupyternetes-hub")]
    assert {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
            "resourceNames": ["jupyternetes-entitlements"]} in role["rules"]


def test_the_hub_config_names_the_charts_configmap() -> None:
    assert 'entitlements_configmap = "jupyternetes-entitlements"' in (
        EXAMPLES / "40-entitlements" / "jupyterhub_config.py").read_text()


def test_session_limits_fill_in_the_limit_and_refuse_a_longer_one(tmp_path: Path) -> None:
    example = EXAMPLES / "50-session-limits"
    done = _policy_test(_policies_with(example / "values.yaml", tmp_path / "p"), example / "templates.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ALLOW JupyterNotebookTemplate kadense/gpu-notebook" in done.stdout.splitlines()
    assert ("spec.pods[0].spec.activeDeadlineSeconds: lets the server run for 86400 seconds; the most allowed is "
            "7200 (rule sessions)") in done.stdout


def test_the_template_update_example_changes_only_the_environment() -> None:
    v1 = yaml.safe_load((EXAMPLES / "10-hub-notebook" / "template.yaml").read_text())
    v2 = yaml.safe_load((EXAMPLES / "60-template-updates" / "template-v2.yaml").read_text())
    env = v2["spec"]["pods"][0]["spec"]["containers"][0].pop("env")
    assert env[-1] == {"name": "TEMPLATE_VERSION", "value": "2"}
    assert env[:-1] == (v1["spec"]["pods"][0]["spec"]["containers"][0].get("env") or [])
    v1["spec"]["pods"][0]["spec"]["containers"][0].pop("env", None)
    assert v1 == v2
