"""Merge a chart values file's webhook.policyData over a policy directory's data.yaml, as the chart does:
python examples/30-audit/merge.py VALUES.yaml POLICIES/data.yaml"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def main(values: Path, data_file: Path) -> None:
    data = yaml.safe_load(data_file.read_text())
    data["jupyternetes"]["config"].update(yaml.safe_load(values.read_text())["webhook"]["policyData"])
    data_file.write_text(yaml.safe_dump(data, sort_keys=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
