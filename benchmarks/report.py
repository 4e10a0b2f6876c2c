"""What every benchmark script shares: printing its results as JSON (and writing them to --output if given), and
reading a process's CPU time."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def emit(results: dict[str, Any], output: Path | None) -> int:
    text = json.dumps(results, indent=2)
    print(text)
    if output:
        output.write_text(text + "\n")
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
