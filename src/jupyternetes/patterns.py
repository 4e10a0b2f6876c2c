"""Variable patterns (`variables.patterns` in the policy data): regular expressions the whole value must match.

The policies judge plain values with OPA's `regex.match` (Go's RE2 syntax); the webhook judges opened sealed values in
Python. Both must give the same answer for the same pattern and value, so this module uses RE2 too (google-re2): its
`\\d`, `\\w` and `\\s` are ASCII only, `$` is the end of the text (not before a final newline, as in Python's `re`),
and its time is linear in the value, whatever the pattern. Both sides ask the same thing: the pattern is valid on its
own, and `^(?:pattern)$` matches the value (policies/variables/policy.rego, `whole_match`).
"""

from __future__ import annotations

import functools
from typing import Final

import re2

#: The longest pattern accepted. Go's parser refuses nesting that RE2's accepts (about a thousand levels), and no
#: rule for a user's name or id needs more than a few dozen characters.
MAX_PATTERN_LENGTH: Final = 1000

_OPTIONS: re2.Options = re2.Options()
_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def _wrapped(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _has_any_byte(pattern: str) -> bool:
    r"""Whether `pattern` uses `\C` (any byte), which RE2 accepts and Go's parser does not."""
    index = 0
    while index < len(pattern) - 1:
        if pattern[index] == "\\":
            if pattern[index + 1] == "C":
                return True
            index += 2
        else:
            index += 1
    return False


@functools.lru_cache(maxsize=256)
def problem(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression the policies can use, or None when it is."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} are accepted"
    if _has_any_byte(pattern):
        return f"{pattern!r} uses \\C (any byte), which OPA does not accept; write . for any character"
    for candidate in (pattern, _wrapped(pattern)):
        try:
            _compiled(candidate)
        except re2.error as error:
            reason = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) \
                else error
            return f"{pattern!r} is not a regular expression in RE2's syntax, which OPA uses ({reason})"
        except UnicodeError:
            return f"{pattern!r} is not valid Unicode text"
    return None


def whole_match(pattern: str, value: str) -> bool:
    """Whether all of `value` matches `pattern`; a pattern the policies cannot use matches nothing."""
    if problem(pattern) is not None:
        return False
    try:
        return _compiled(_wrapped(pattern)).search(value) is not None
    except (re2.error, UnicodeError):
        return False
