"""The audit against a cluster: `jupyternetes audit` (the user's kubeconfig, the policies in a directory, OPA started
for the run) and the webhook's periodic audit (its own caches, its OPA, Events and metrics). The judging and the
report are audit.py's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from jupyternetes import constants, jsonlog, kube
from jupyternetes.webhook import audit, metrics, policy
from jupyternetes.webhook.judge import Judge
from jupyternetes.webhook.lookup import CachedLookup
from jupyternetes.webhook.settings import WebhookSettings

logger = logging.getLogger(__name__)

#: The periodic audit's JSON records of objects whose violations changed (docs/audit.md).
RECORDS: Final = "jupyternetes.audit"
OPA_START_SECONDS: Final = 60.0


class AuditError(RuntimeError):
    """The audit could not run (kubeconfig, connection, permission, policy engine); the message says which."""


# `jupyternetes audit` ------------------------------------------------------------------------------------------------

class ListedLookup:
    """Templates and instances from the lists the audit read, with a read by name for one it did not list (the
    template of an instance in the namespace being audited, kept in the shared template namespace)."""

    def __init__(self, api: kube.AsyncKube, objects: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        self.api = api
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for kind, obj in objects:
            meta = obj.get("metadata") or {}
            self.objects[(kind, str(meta.get("namespace", "")), str(meta.get("name", "")))] = dict(obj)

    async def _read(self, kind: str, rt: kube.ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        key = (kind, namespace, name)
        if key not in self.objects:
            try:
                self.objects[key] = await self.api.get(rt, name, namespace)
            except kube.NotFound:
                return None
        return self.objects[key]

    async def instance(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(constants.INSTANCE_KIND, kube.INSTANCE, namespace, name)

    async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read(constants.TEMPLATE_KIND, kube.TEMPLATE, namespace, name)

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None  # the audit never judges a status address

    async def instances_using(self, namespace: str, name: str) -> list[str]:
        return []  # the audit never judges a deletion


def infer_template_namespace(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """The shared template namespace, as the instances use it: the namespace most of them name in
    spec.template.namespace other than their own ("" when none does)."""
    counts: Counter[str] = Counter()
    for kind, obj in objects:
        if kind != constants.INSTANCE_KIND:
            continue
        own = str((obj.get("metadata") or {}).get("namespace", ""))
        named = str(((obj.get("spec") or {}).get("template") or {}).get("namespace") or "")
        if named and named != own:
            counts[named] += 1
    return counts.most_common(1)[0][0] if counts else ""


async def collect(api: kube.AsyncKube, kinds: Iterable[str], namespace: str | None
                  ) -> list[tuple[str, dict[str, Any]]]:
    """Every object of `kinds` in `namespace` (None: all namespaces); pods only those the operator made."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name in kinds:
        rt = {"templates": kube.TEMPLATE, "instances": kube.INSTANCE, "pods": kube.POD}[name]
        params = {"labelSelector": audit.POD_SELECTOR} if name == "pods" else {}
        try:
            listing = await api.list(rt, namespace, **params)
        except kube.Forbidden as error:
            where = f"in namespace {namespace}" if namespace else "in all namespaces"
            raise AuditError(f"this identity may not list {name} {where} ({error.message}); use a kubeconfig that "
                             f"may, or leave {name} out with --kinds") from None
        except kube.ApiError as error:
            raise AuditError(f"cannot list {name}: {error.message}") from None
        found += [(audit.KIND_NAMES[name], item) for item in listing.get("items") or []]
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def opa_server(opa: Path, policy_dir: Path) -> AsyncIterator[str]:
    """An OPA server with `policy_dir` loaded, on a free local port, for as long as the block runs; yields its URL."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        str(opa), "run", "--server", f"--addr=127.0.0.1:{port}", "--log-level=error", "--skip-version-check",
        *[f"--ignore={name}" for name in policy.IGNORED], str(policy_dir),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + OPA_START_SECONDS
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if process.returncode is not None:
                    detail = (await process.stderr.read()).decode(errors="replace").strip() if process.stderr else ""
                    raise AuditError(f"OPA refused the policies in {policy_dir}: {detail}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/health?bundles")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise AuditError(f"OPA did not start within {OPA_START_SECONDS:g}s")
                await asyncio.sleep(0.1)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()


async def run_once(kubeconfig: Path | None, namespace: str | None, kinds: Iterable[str], policy_dir: Path,
                   opa: Path, template_namespace: str = "") -> audit.Report:
    """Read the objects with the user's kubeconfig and judge them with `policy_dir` (the webhook's own checks and
    the Rego policies, through an OPA started for this run)."""
    try:
        config = kube.KubeConfig.load(kubeconfig)
    except (kube.KubeConfigError, OSError) as error:
        raise AuditError(f"cannot load the kubeconfig: {error}") from None
    data = policy.load_data(policy_dir)
    async with kube.AsyncKube(config, user_agent="jupyternetes-audit") as api:
        objects = await collect(api, kinds, namespace)
        settings = WebhookSettings(development=True, policy_dir=policy_dir, manage_configurations=False,
                                   template_namespace=template_namespace or infer_template_namespace(objects))
        async with opa_server(opa, policy_dir) as url:
            engine = policy.OpaServer(url, timeout=30.0)
            try:
                judge = Judge(settings, data, engine, ListedLookup(api, objects))
                try:
                    return await audit.judge_all(judge, objects, str(policy_dir))
                except kube.ApiError as error:
                    raise AuditError(f"cannot read a template: {error.message}") from None
            finally:
                await engine.aclose()


# The webhook's periodic audit ---------------------------------------------------------------------------------------

class PeriodicAudit:
    """Judges every template and instance in the webhook's caches once they are filled, then every
    `audit_interval_seconds`. For each object whose violations are new or changed it writes one Warning Event
    (reason PolicyViolation) and one JSON record; it keeps the jupyternetes_audit_* gauges current."""

    def __init__(self, judge: Judge, lookup: CachedLookup, api: kube.AsyncKube, settings: WebhookSettings,
                 reporting_instance: str) -> None:
        self.judge = judge
        self.lookup = lookup
        self.api = api
        self.settings = settings
        self.reporting_instance = reporting_instance
        #: uid -> fingerprint of the violations last reported for that object.
        self.reported: dict[str, str] = {}
        self._series: set[tuple[str, str, str, str]] = set()
        self.records = jsonlog.logger(RECORDS)

    async def run(self) -> None:
        await self.lookup.instances.synced.wait()
        await self.lookup.templates.synced.wait()
        while True:
            started = time.monotonic()
            try:
                report = await self.once()
                complete = not any(r.result == "error" for r in report.results)
                metrics.AUDIT_RUNS.labels("ok" if complete else "error").inc()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next run tries again; the webhook keeps serving
                logger.exception("the periodic audit failed")
                metrics.AUDIT_RUNS.labels("error").inc()
            metrics.AUDIT_DURATION.set(time.monotonic() - started)
            await asyncio.sleep(self.settings.audit_interval_seconds)

    def objects(self) -> list[tuple[str, dict[str, Any]]]:
        return ([(constants.TEMPLATE_KIND, t) for t in list(self.lookup.templates.items.values())]
                + [(constants.INSTANCE_KIND, i) for i in list(self.lookup.instances.items.values())])

    async def once(self) -> audit.Report:
        report = await audit.judge_all(self.judge, self.objects(), str(self.settings.policy_dir))
        errors = [r for r in report.results if r.result == "error"]
        if errors:
            # An incomplete audit changes no violation count (an outage must not look like compliance) and is not a
            # completed run: jupyternetes_audit_objects{result="error"} and the stale last-run time say so.
            logger.warning("audit: %d object(s) could not be judged (the policy engine did not answer); the "
                           "violation metrics and Events stay as the last complete audit left them", len(errors))
        else:
            self._metrics(report)
        for (kind, result), count in audit.object_series(report).items():
            metrics.AUDIT_OBJECTS.labels(kind, result).set(count)
        await self._report(report)
        if not errors:
            metrics.AUDIT_LAST_RUN.set(time.time())
        summary = report.summary()
        logger.info("audit of %d templates and instances: %s", len(report.results),
                    ", ".join(f"{summary[r]} {r}" for r in audit.RESULTS))
        return report

    def _metrics(self, report: audit.Report) -> None:
        series = audit.violation_series(report)
        for labels in self._series - set(series):
            with contextlib.suppress(KeyError):
                metrics.AUDIT_VIOLATIONS.remove(*labels)
        for labels, count in series.items():
            metrics.AUDIT_VIOLATIONS.labels(*labels).set(count)
        self._series = set(series)

    async def _report(self, report: audit.Report) -> None:
        current: dict[str, str] = {}
        for result in report.results:
            if result.result == "error":
                if result.uid in self.reported:
                    current[result.uid] = self.reported[result.uid]
                continue
            if not result.violations or not result.uid:
                continue
            fingerprint = result.fingerprint()
            if self.reported.get(result.uid) == fingerprint:
                current[result.uid] = fingerprint
                continue
            jsonlog.emit(self.records, {"schema": jsonlog.SCHEMA_VERSION, "type": "audit-violation",
                                        "timestamp": report.timestamp, "component": audit.EVENT_COMPONENT,
                                        "policies": report.policies, **result.as_dict()})
            try:
                await self.api.create(audit.event_for(result, self.reporting_instance, report.timestamp))
            except kube.Conflict:
                pass  # another replica (or this one before a restart) wrote this very Event
            except kube.ApiError as error:
                logger.warning("audit: cannot write the PolicyViolation Event on %s %s/%s: %s", result.kind,
                               result.namespace, result.name, error.message)
                continue  # try again at the next audit
            current[result.uid] = fingerprint
        self.reported = current
