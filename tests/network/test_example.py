"""examples/20-network-egress works as its comments say: with its destination in the policy data the template is
admitted, without it refused by the `network` policy, and the chart makes the destination's NetworkPolicy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.seeds import REPO_ROOT
from tests.support import helm

EXAMPLE = REPO_ROOT / "examples" / "20-network-egress"


def _policy_test(policies: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies", str(policies),
                           str(EXAMPLE / "template.yaml")], capture_output=True, text=True, timeout=120, check=False)


def test_the_template_passes_with_the_examples_destination_and_is_refused_without_it(tmp_path: Path) -> None:
    refused = _policy_test(REPO_ROOT / "policies")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert '(rule network)' in refused.stdout and '"package-mirror", which is not a destination' in refused.stdout
    policies = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", policies)
    data = yaml.safe_load((policies / "data.yaml").read_text())
    data["jupyternetes"]["config"].update(yaml.safe_load((EXAMPLE / "values.yaml").read_text())["webhook"]["policyData"])
    (policies / "data.yaml").write_text(yaml.safe_dump(data))
    admitted = _policy_test(policies)
    assert admitted.returncode == 0, admitted.stdout + admitted.stderr
    assert admitted.stdout.startswith("ALLOW JupyterNotebookTemplate kadense/notebook-with-mirror")


def test_the_chart_makes_the_destinations_network_policy() -> None:
    policies = helm.by_kind(helm.rendered(str(EXAMPLE / "values.yaml")), "NetworkPolicy")
    mirror = policies[("jupyterhub", "jupyternetes-egress-package-mirror")]["spec"]
    assert mirror["podSelector"]["matchLabels"]["jupyternetes.kadense.io/egress-package-mirror"] == "true"
    assert mirror["egress"] == [{"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "package-mirror"}}, "podSelector": {"matchLabels": {"app": "devpi"}}}],
        "ports": [{"port": 3141, "protocol": "TCP"}]}]
