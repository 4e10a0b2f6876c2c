"""A copy of the shipped policies with some sections of their data replaced, as an officer's edited copy would be."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from jupyternetes.dev import components


def with_data(target: Path, sections: Mapping[str, Any]) -> Path:
    """The shipped policies copied to `target`, with each of `sections` (a key of jupyternetes.config) replaced."""
    shutil.copytree(components.policy_dir(), target)
    data = yaml.safe_load((target / "data.yaml").read_text())
    data["jupyternetes"]["config"].update(sections)
    (target / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target
