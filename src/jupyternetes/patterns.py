"""Variable patterns (`variables.patterns` in the policy data): regular expressions the whole value must match.

The policies judge plain values with OPA's `regex.match` (Go's RE2 syntax); the webhook judges opened sealed values in
Python. Both must give the same answer for the same pattern and value, so this module uses RE2 too (google-re2): its
`\\d`, `\\w` and `\\s` are ASCII only, `$` is the end of the text (not before a final newline, as in Python's `re`),
and its time is linear in the value, whatever the pattern. The policies wrap a pattern as `^(?:pattern)$`, which is
what `whole_match` asks here.
"""

from __future__ import annotations

import functools

import re2

_OPTIONS: re2.Options = re2.Options()
_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def problem(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression the policies can use, or None when it is."""
    try:
        _compiled(pattern)
    except re2.error as error:
        reason = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) else error
        return f"{pattern!r} is not a regular expression in RE2's syntax, which OPA uses ({reason})"
    return None


def whole_match(pattern: str, value: str) -> bool:
    """Whether all of `value` matches `pattern`; a pattern that does not compile matches nothing."""
    try:
        return _compiled(pattern).fullmatch(value) is not None
    except re2.error:
        return False
