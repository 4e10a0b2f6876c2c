"""What every benchmark script does with its results: print them as JSON, and write them to --output if given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(results: dict[str, Any], output: Path | None) -> int:
    text = json.dumps(results, indent=2)
    print(text)
    if output:
        output.write_text(text + "\n")
    return 0
