"""examples/30-audit works as its README says (offline: the template passes the policies in force and fails the
tightened ones), and the chart passes the periodic audit's interval to the webhook, refuses a bad one, and gives the
webhook exactly one new right: creating Events."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.seeds import REPO_ROOT
from tests.support import helm

EXAMPLE = REPO_ROOT / "examples" / "30-audit"


def _policy_test(policies: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies", str(policies),
                           str(EXAMPLE / "template.yaml")], capture_output=True, text=True, timeout=120, check=False)


def test_the_template_passes_the_policies_in_force_and_fails_the_tightened_ones(tmp_path: Path) -> None:
    in_force = tmp_path / "in-force"
    shutil.copytree(REPO_ROOT / "policies", in_force)
    merged = subprocess.run([sys.executable, str(EXAMPLE / "merge.py"), str(EXAMPLE / "values.yaml"),
                             str(in_force / "data.yaml")], capture_output=True, text=True, timeout=60, check=False)
    assert merged.returncode == 0, merged.stderr
    admitted = _policy_test(in_force)
    assert admitted.returncode == 0, admitted.stdout + admitted.stderr
    refused = _policy_test(REPO_ROOT / "policies")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "registry.example.org/legacy/notebook" in refused.stdout and "(rule images)" in refused.stdout


def test_the_readme_runs_the_audit_command_against_a_tightened_copy() -> None:
    readme = (EXAMPLE / "README.md").read_text()
    assert "jupyternetes audit --kubeconfig $DEV/kubeconfig --policies /tmp/tightened" in readme
    assert "--kinds templates,instances" in readme


def test_the_chart_passes_the_audit_interval_to_the_webhook() -> None:
    for values, expected in ((None, "300"), (str(EXAMPLE / "values.yaml"), "300")):
        deployment = helm.by_kind(helm.rendered(*([values] if values else [])), "Deployment")[
            ("jupyternetes", "jupyternetes-webhook")]
        env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["JUPYTERNETES_WEBHOOK_AUDIT_INTERVAL_SECONDS"] == expected
    off = helm.by_kind(helm.rendered(webhook__audit__intervalSeconds="0"), "Deployment")[
        ("jupyternetes", "jupyternetes-webhook")]
    assert {"name": "JUPYTERNETES_WEBHOOK_AUDIT_INTERVAL_SECONDS", "value": "0"} in \
        off["spec"]["template"]["spec"]["containers"][0]["env"]


def test_the_chart_refuses_a_negative_interval_or_an_unknown_audit_value() -> None:
    negative = helm.template(webhook__audit__intervalSeconds="-1")
    assert negative.returncode != 0 and "intervalSeconds" in negative.stderr, negative.stderr
    unknown = helm.template(webhook__audit__events="false")
    assert unknown.returncode != 0 and "additional properties 'events' not allowed" in unknown.stderr


def test_the_webhooks_only_new_right_is_to_create_events() -> None:
    role = helm.by_kind(helm.rendered(), "ClusterRole")[(None, "jupyternetes-webhook")]
    assert role["rules"] == [
        {"apiGroups": ["kadense.io"], "resources": ["jupyternotebooktemplates", "jupyternotebookinstances"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        {"apiGroups": ["admissionregistration.k8s.io"],
         "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"], "verbs": ["get", "update"],
         "resourceNames": ["jupyternetes-webhook"]}]
