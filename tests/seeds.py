"""The design seeds' YAML examples, read straight from `../shared/seeds/`, so tests use them verbatim."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
SEED_FILE: Final = REPO_ROOT.parent / "shared" / "seeds" / "004_3759732bda05551d.txt"


def seed_yaml_blocks() -> list[str]:
    """The ```yaml blocks of the announcement, as text: [template, instance]."""
    if not SEED_FILE.exists():
        raise FileNotFoundError(f"the design seed {SEED_FILE} is missing; tests need ../shared beside the repository")
    blocks = re.findall(r"```yaml\n(.*?)```", SEED_FILE.read_text(), re.S)
    assert len(blocks) == 2, f"expected the template and the instance in {SEED_FILE}, found {len(blocks)} blocks"
    return blocks


def seed_template() -> dict[str, Any]:
    return dict(yaml.safe_load(seed_yaml_blocks()[0]))


def seed_instance() -> dict[str, Any]:
    return dict(yaml.safe_load(seed_yaml_blocks()[1]))


#: What the secure defaults fill in for the seed's notebook pod (with default limits of 2 CPUs and 4Gi), in order,
#: paths relative to the pod entry.
SEED_POD_DEFAULTS: Final = (
    "spec.securityContext.seccompProfile.type: set to RuntimeDefault",
    "spec.securityContext.runAsNonRoot: set to true",
    "spec.automountServiceAccountToken: set to false",
    "spec.containers[0].securityContext.allowPrivilegeEscalation: set to false",
    "spec.containers[0].securityContext.capabilities.drop: set to [ALL]",
    "spec.containers[0].resources.limits.cpu: set to 2",
    "spec.containers[0].resources.limits.memory: set to 4Gi",
)
