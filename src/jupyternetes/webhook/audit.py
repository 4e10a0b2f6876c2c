"""The audit: every stored template and instance, and every running Jupyternetes pod, judged again against the
policies as they are now, with a report per object the way Gatekeeper's audit and Kyverno's PolicyReports give one.

Pure of the API server: objects in, a `Report` out, and the report as a table, as JSON, as Kubernetes Events and as
metric series. `jupyternetes audit` (audit_runs.py) and the webhook's periodic audit build on it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from jupyternetes import constants, jsonlog
from jupyternetes.webhook.judge import RULE_POLICY_ENGINE, Judge, Verdict

#: The kinds the audit looks at, as the command line names them.
KINDS: Final = ("templates", "instances", "pods")
KIND_NAMES: Final = {"templates": constants.TEMPLATE_KIND, "instances": constants.INSTANCE_KIND, "pods": "Pod"}
#: The label that marks what the operator made (only the operator can set it: see SECURITY.md).
POD_SELECTOR: Final = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"

#: Results, as Kyverno's PolicyReports name them: pass, warn (violations only of policies in warn or audit mode),
#: fail (at least one violation that admission would refuse today), error (could not be judged: OPA did not answer).
Result = Literal["pass", "warn", "fail", "error"]
RESULTS: Final = ("pass", "warn", "fail", "error")

EVENT_REASON: Final = "PolicyViolation"
EVENT_COMPONENT: Final = "jupyternetes-webhook"
MAX_EVENT_MESSAGE: Final = 1024
#: How many objects are judged at once (each one is a policy query).
CONCURRENCY: Final = 8


@dataclass(frozen=True)
class Violation:
    rule: str
    path: str
    message: str
    mode: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "path": self.path, "message": self.message, "mode": self.mode}


@dataclass(frozen=True)
class ObjectResult:
    """The audit's finding about one object."""

    kind: str
    namespace: str
    name: str
    uid: str
    violations: tuple[Violation, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def result(self) -> Result:
        if any(v.rule == RULE_POLICY_ENGINE for v in self.violations):
            return "error"
        if any(v.mode == "enforce" for v in self.violations):
            return "fail"
        return "warn" if self.violations else "pass"

    @property
    def rules(self) -> list[str]:
        return sorted({v.rule for v in self.violations})

    def fingerprint(self) -> str:
        """Names this object's set of violations: it changes when, and only when, that set changes."""
        text = "\n".join([self.uid, *sorted(f"{v.rule}\t{v.path}\t{v.mode}\t{v.message}" for v in self.violations)])
        return hashlib.sha256(text.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "uid": self.uid,
                "result": self.result, "violations": [v.as_dict() for v in self.violations],
                "warnings": list(self.warnings)}


@dataclass
class Report:
    policies: str
    timestamp: str
    results: list[ObjectResult] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = Counter(r.result for r in self.results)
        return {result: counts.get(result, 0) for result in RESULTS}

    @property
    def failed(self) -> list[ObjectResult]:
        return [r for r in self.results if r.result == "fail"]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report (docs/audit.md): a summary, then one entry per object, sorted by kind, namespace, name."""
        return {"apiVersion": "jupyternetes.kadense.io/v1", "kind": "AuditReport", "timestamp": self.timestamp,
                "policies": self.policies, "summary": self.summary(),
                "results": [r.as_dict() for r in sorted(self.results, key=_order)]}


def _order(result: ObjectResult) -> tuple[int, str, str]:
    kinds = list(KIND_NAMES.values())
    return (kinds.index(result.kind) if result.kind in kinds else len(kinds), result.namespace, result.name)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def from_verdict(kind: str, obj: Mapping[str, Any], verdict: Verdict) -> ObjectResult:
    meta = _mapping(obj.get("metadata"))
    return ObjectResult(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""), str(meta.get("uid") or ""),
                        tuple(Violation(f.rule, f.path, f.message, f.mode) for f in verdict.findings),
                        tuple(verdict.warnings))


async def judge_one(judge: Judge, kind: str, obj: Mapping[str, Any]) -> ObjectResult:
    if kind == constants.TEMPLATE_KIND:
        verdict = await judge.stored_template(obj)
    elif kind == constants.INSTANCE_KIND:
        verdict = await judge.stored_instance(obj)
    else:
        verdict = await judge.stored_pod(obj)
    return from_verdict(kind, obj, verdict)


async def judge_all(judge: Judge, objects: Iterable[tuple[str, Mapping[str, Any]]], policies: str) -> Report:
    """Judge every (kind, object) and collect the report; objects being deleted are left out."""
    report = Report(policies, jsonlog.now())
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(kind: str, obj: Mapping[str, Any]) -> ObjectResult:
        async with limit:
            return await judge_one(judge, kind, obj)

    todo = [(kind, obj) for kind, obj in objects if not _mapping(obj.get("metadata")).get("deletionTimestamp")]
    report.results = list(await asyncio.gather(*(one(kind, obj) for kind, obj in todo)))
    report.results.sort(key=_order)
    return report


# The table ---------------------------------------------------------------------------------------------------------

_SHORT_KIND: Final = {constants.TEMPLATE_KIND: "template", constants.INSTANCE_KIND: "instance", "Pod": "pod"}


def table(report: Report, show_passing: bool = False) -> str:
    """One line per object (those that pass only with `show_passing`), then one indented line per violation, then
    the summary."""
    rows = [("KIND", "NAMESPACE", "NAME", "RESULT", "RULES")]
    details: dict[int, list[str]] = {}
    for result in report.results:
        if result.result == "pass" and not show_passing:
            continue
        # Every cell is escaped: a name or a message quoting a user's groups must not drive the officer's terminal.
        rows.append(tuple(jsonlog.one_line(cell) for cell in (
            _SHORT_KIND.get(result.kind, result.kind), result.namespace, result.name, result.result.upper(),
            ",".join(result.rules) or "-")))
        details[len(rows) - 1] = [jsonlog.one_line(f"{v.mode}: {v.rule}: {v.path + ': ' if v.path else ''}"
                                                   f"{v.message}") for v in result.violations]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        lines += [f"    {detail}" for detail in details.get(index, [])]
    summary = report.summary()
    if len(rows) == 1:
        lines = ["No object violates the policies."]
    lines.append(f"{len(report.results)} objects audited against {report.policies} at {report.timestamp}: "
                 + ", ".join(f"{summary[r]} {r}" for r in RESULTS))
    return "\n".join(lines) + "\n"


# Events and metrics (the periodic audit) ---------------------------------------------------------------------------

def event_name(result: ObjectResult) -> str:
    """The same name for the same object and the same violations: every replica, and a restarted one, writes the one
    Event (the API server refuses the second create), until the violations change or the Event expires."""
    return f"{result.name[:200]}.audit-{result.fingerprint()[:16]}"


def event_message(result: ObjectResult) -> str:
    parts = [f"{v.rule} ({v.mode}): {v.path + ': ' if v.path else ''}{v.message}" for v in result.violations]
    enforced = sum(v.mode == "enforce" for v in result.violations)
    head = (f"The current policies would refuse this {_SHORT_KIND.get(result.kind, result.kind)} "
            f"({enforced} enforced violation(s)); rules: {', '.join(result.rules)}" if enforced else
            f"Violates policies in warn or audit mode; rules: {', '.join(result.rules)}")
    message = head + ". " + "; ".join(parts)
    return message if len(message) <= MAX_EVENT_MESSAGE else message[:MAX_EVENT_MESSAGE - 3] + "..."


def event_for(result: ObjectResult, reporting_instance: str, timestamp: str) -> dict[str, Any]:
    """A Warning Event on the template or instance, naming the rules it violates now."""
    seconds = timestamp.split(".")[0].removesuffix("Z") + "Z"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event_name(result), "namespace": result.namespace,
                     "labels": {constants.LABEL_MANAGED_BY: constants.MANAGED_BY}},
        "involvedObject": {"apiVersion": constants.API_VERSION, "kind": result.kind, "name": result.name,
                           "namespace": result.namespace, "uid": result.uid},
        "type": "Warning", "reason": EVENT_REASON, "message": event_message(result),
        "source": {"component": EVENT_COMPONENT}, "reportingComponent": EVENT_COMPONENT,
        "reportingInstance": reporting_instance, "firstTimestamp": seconds, "lastTimestamp": seconds, "count": 1,
    }


def violation_series(report: Report) -> dict[tuple[str, str, str, str], int]:
    """(kind, namespace, policy, mode) -> how many violations: the jupyternetes_audit_violations gauge. Bounded by
    the namespaces that hold templates and instances times the rules, never by object names."""
    series: Counter[tuple[str, str, str, str]] = Counter()
    for result in report.results:
        if result.result == "error":
            continue
        for violation in result.violations:
            series[(_SHORT_KIND.get(result.kind, result.kind), result.namespace, violation.rule, violation.mode)] += 1
    return dict(series)


def object_series(report: Report) -> dict[tuple[str, str], int]:
    """(kind, result) -> how many objects: the jupyternetes_audit_objects gauge."""
    counts: Counter[tuple[str, str]] = Counter((_SHORT_KIND.get(r.kind, r.kind), r.result) for r in report.results)
    return {(kind, result): counts.get((kind, result), 0) for kind in ("template", "instance") for result in RESULTS}
