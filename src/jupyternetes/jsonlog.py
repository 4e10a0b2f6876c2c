"""Loggers whose records are one JSON object per line, whatever the rest of a component logs and how (the admission
decisions and provisioning actions that a SIEM takes in; docs/audit.md documents every field).

Each record is logged with the JSON text as its whole message, through a handler of its own that prints nothing but
the message, and is not passed on to the component's other handlers: one line, one object, nothing around it.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Final, TextIO

#: The version of the record schemas in docs/audit.md; raised when a field changes meaning or goes away.
SCHEMA_VERSION: Final = 1


def now() -> str:
    """The time now, RFC 3339 in UTC with milliseconds: 2026-05-01T12:00:00.123Z."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(record: Mapping[str, Any]) -> str:
    """One line of JSON: no newline inside (json escapes them in strings), ASCII only, keys in the given order."""
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)


def logger(name: str, stream: TextIO | None = None) -> logging.Logger:
    """The logger `name`, set up (once) to write each record's message alone on a line of `stream` (default: stderr,
    where the components log) and not to pass records on to the root logger's handlers."""
    log = logging.getLogger(name)
    if not any(getattr(handler, "_jupyternetes_json", False) for handler in log.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._jupyternetes_json = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def emit(log: logging.Logger, record: Mapping[str, Any]) -> None:
    """Write `record` as one JSON line (never raises: a record that cannot be written is not worth an outage)."""
    try:
        log.info("%s", dumps(record))
    except Exception:  # noqa: BLE001 - logging must never break admission or provisioning
        logging.getLogger(__name__).exception("could not write a %s record", log.name)


#: Control characters (C0 but tab, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def one_line(text: str) -> str:
    """`text` with every control character escaped (a newline as \\n): a value from a request (a user's name, a
    group) can then never end a log line, start a forged one, or drive a terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1] if m.group() in "\n\r" else f"\\x{ord(m.group()):02x}"
                        if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


class OneLineFormatter(logging.Formatter):
    """The components' plain-text log format, one line per record whatever the message or traceback holds."""

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class JsonFormatter(logging.Formatter):
    """The components' ordinary log as one JSON object per line: `timestamp`, `level`, `logger`, `message`, and
    `exception` when there is one (a log pipeline then needs no parser of its own)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry)


#: The values of the components' `log_format` setting.
LOG_FORMATS: Final = ("text", "json")


def configure_text_logging(level: int = logging.INFO, log_format: str = "text") -> None:
    """The root logger writes one line per record to stderr: `TEXT_FORMAT` with control characters escaped, or, with
    `log_format="json"`, one JSON object (`JsonFormatter`). The records of `logger()` are JSON either way."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
