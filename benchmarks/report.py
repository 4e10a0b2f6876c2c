"""What every benchmark script shares: printing its results as JSON (and writing them to --output if given), and
reading a process's CPU time."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
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


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found += [int(child) for child in children]
    return found


def _tree_sum(pid: int, measure: Callable[[int], float]) -> float:
    """`measure` of the process plus that of every descendant still running (a hub's proxy, for one)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += measure(current)
            stack += _children(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the process and of every descendant still running."""
    return _tree_sum(pid, cpu_seconds)


def _rss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return 0.0


def tree_rss_mib(pid: int) -> float:
    """Resident memory of the process and of every descendant still running, in MiB."""
    return round(_tree_sum(pid, _rss_kib) / 1024, 1)


def components_cpu(processes: dict[str, int]) -> dict[str, float]:
    """CPU time so far of each named process tree: take one before and one after, and `cpu_spent` the difference."""
    return {name: tree_cpu_seconds(pid) for name, pid in processes.items()}


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
