"""The Rego policies: their data file, and asking OPA for violations.

Two ways to evaluate the same policies: an OPA server beside the webhook (`OpaServer`, through opa-python-client),
and the pinned `opa` binary run as `opa eval` for offline checks (`OpaEval`, used by `jupyternetes policy test`).
Both return the same list of violations. An OPA that cannot answer, or answers too late, is an error that the caller
turns into a denial: the webhook fails closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlparse

import yaml

from jupyternetes import policydata
from jupyternetes.webhook import metrics

logger = logging.getLogger(__name__)

VIOLATIONS_PACKAGE: Final = "jupyternetes/main"
VIOLATIONS_RULE: Final = "violations"
#: Loaded by nobody: the sample manifests beside each policy (they are YAML, which OPA would read as data).
IGNORED: Final = ("samples", "*_test.rego")
MODES: Final = ("enforce", "warn", "audit")


class PolicyUnavailable(RuntimeError):
    """OPA did not give an answer; the message says why, for the denial."""


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    path: str
    message: str
    fix: str


class Engine(Protocol):
    async def violations(self, document: Mapping[str, Any]) -> list[PolicyViolation]: ...


def _parse(result: Any) -> list[PolicyViolation]:
    if not isinstance(result, list):
        raise PolicyUnavailable("OPA's answer has no violations list; is the policy bundle loaded?")
    out = []
    for item in result:
        if not isinstance(item, Mapping):
            raise PolicyUnavailable(f"OPA returned a malformed violation: {item!r}")
        out.append(PolicyViolation(str(item.get("policy", "?")), str(item.get("path", "")),
                                   str(item.get("message", "")), str(item.get("fix", ""))))
    return sorted(out, key=lambda v: (v.path, v.policy, v.message))


class OpaServer:
    """Queries an OPA server over HTTP with opa-python-client's async client; never retries (the caller waits)."""

    def __init__(self, url: str, timeout: float) -> None:
        from opa_client.opa_async import AsyncOpaClient

        parsed = urlparse(url)
        self.url = url
        self.timeout = timeout
        self._client = AsyncOpaClient(host=parsed.hostname or "127.0.0.1", port=parsed.port or 8181,
                                      ssl=parsed.scheme == "https", timeout=timeout, retries=0)
        self._ready = False

    async def violations(self, document: Mapping[str, Any]) -> list[PolicyViolation]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                if not self._ready:
                    await self._client.__aenter__()  # opens the client's connection pool, once
                    self._ready = True
                answer = await self._client.query_rule(dict(document), VIOLATIONS_PACKAGE, VIOLATIONS_RULE)
        except TimeoutError:
            raise PolicyUnavailable(f"the policy engine (OPA at {self.url}) did not answer within "
                                    f"{self.timeout:g}s") from None
        except Exception as error:  # noqa: BLE001 - any failure to get an answer means "deny"
            raise PolicyUnavailable(f"the policy engine (OPA at {self.url}) is unreachable: "
                                    f"{type(error).__name__}: {error}") from None
        finally:
            metrics.POLICY_SECONDS.observe(time.perf_counter() - started)
        if "result" not in answer:
            raise PolicyUnavailable("OPA has no jupyternetes.main policy loaded; check the policy bundle")
        return _parse(answer["result"])

    async def aclose(self) -> None:
        if self._ready:
            await self._client.__aexit__(None, None, None)
            self._ready = False


class NoPolicies:
    """No Rego at all: the webhook's built-in checks alone (development and benchmarks only)."""

    async def violations(self, document: Mapping[str, Any]) -> list[PolicyViolation]:
        return []

    async def aclose(self) -> None:
        return None


class OpaEval:
    """Evaluates the policies with the `opa` binary, without a server (offline checks)."""

    def __init__(self, opa: Path, policy_dir: Path) -> None:
        self.opa = opa
        self.policy_dir = policy_dir

    async def violations(self, document: Mapping[str, Any]) -> list[PolicyViolation]:
        process = await asyncio.create_subprocess_exec(
            str(self.opa), "eval", "--format", "json", "--stdin-input", *[f"--ignore={name}" for name in IGNORED],
            "--data", str(self.policy_dir),
            f"data.{VIOLATIONS_PACKAGE.replace('/', '.')}.{VIOLATIONS_RULE}",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate(json.dumps(document).encode())
        if process.returncode != 0:
            detail = (err or out).decode(errors="replace").strip()
            raise PolicyUnavailable(f"opa eval failed: {detail}")
        answer = json.loads(out)
        try:
            value = answer["result"][0]["expressions"][0]["value"]
        except (KeyError, IndexError):
            raise PolicyUnavailable("the policies define no jupyternetes.main.violations") from None
        return _parse(value)


@dataclass(frozen=True)
class PolicyData:
    """The parts of the policy data file the webhook itself uses (the rest is for Rego)."""

    raw: Mapping[str, Any]

    @property
    def config(self) -> Mapping[str, Any]:
        return (self.raw.get("jupyternetes") or {}).get("config") or {}

    def mode(self, policy: str) -> str:
        mode = (self.config.get("modes") or {}).get(policy, "enforce")
        return mode if mode in MODES else "enforce"

    @property
    def default_limits(self) -> dict[str, str]:
        return {k: str(v) for k, v in ((self.config.get("resources") or {}).get("default_limits") or {}).items()}

    @property
    def sensitive_variables(self) -> list[str]:
        return list((self.config.get("variables") or {}).get("sensitive") or [])

    @property
    def allowed_images(self) -> list[str]:
        return list((self.config.get("images") or {}).get("allowed") or [])

    @property
    def allowed_fields(self) -> frozenset[str]:
        """Field patterns (as in `fields`) that the floor admits although it does not know or judge them."""
        return frozenset(str(f) for f in (self.config.get("fields") or {}).get("allowed") or [])

    @property
    def variable_max_length(self) -> int | None:
        value = (self.config.get("variables") or {}).get("max_length")
        return int(value) if value is not None else None

    @property
    def variable_patterns(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in ((self.config.get("variables") or {}).get("patterns") or {}).items()}


def load_data(policy_dir: Path) -> PolicyData:
    """Read `data.yaml` from the policy directory; a missing or broken file is an error naming the file."""
    path = policy_dir / "data.yaml"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ValueError(f"cannot read the policy data file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"the policy data file {path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"the policy data file {path} must be a mapping")
    data = PolicyData(raw)
    for name, mode in (data.config.get("modes") or {}).items():
        if mode not in MODES:
            raise ValueError(f"{path}: modes.{name} is {mode!r}; use enforce, warn or audit")
    problems = policydata.problems((raw.get("jupyternetes") or {}).get("config") or {})
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return data
