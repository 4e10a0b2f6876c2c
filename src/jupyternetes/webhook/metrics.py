"""Prometheus metrics of the webhook, served at /metrics."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

DECISIONS: Final = Counter("jupyternetes_webhook_decisions_total",
                           "Admission decisions, by webhook, kind, outcome (allowed, denied, malformed, error) and "
                           "whether the request was a dry run", ["webhook", "kind", "outcome", "dry_run"])
LATENCY: Final = Histogram("jupyternetes_webhook_request_duration_seconds", "Time to answer one AdmissionReview",
                           ["webhook"], buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
POLICY_ERRORS: Final = Counter("jupyternetes_webhook_policy_engine_errors_total",
                               "Reviews denied because OPA did not answer")
WATCH_FAILURES: Final = Counter("jupyternetes_webhook_watch_failures_total",
                                "Failed lists or watches of the webhook's caches (a 403 after an RBAC change, an API "
                                "server that cannot be reached), by resource", ["resource"])
POLICY_SECONDS: Final = Histogram("jupyternetes_webhook_policy_query_duration_seconds",
                                  "Time for OPA to answer one query",
                                  buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))

# The periodic audit (webhook/audit_runs.py, docs/audit.md). Every replica audits and reports the same numbers: take
# max() over replicas, not sum(). Labels are bounded by kinds, the namespaces that hold templates and instances,
# and the policies' rule names: never an object's name.
AUDIT_VIOLATIONS: Final = Gauge("jupyternetes_audit_violations",
                                "Violations of the current policies by stored templates and instances, at the last "
                                "audit", ["kind", "namespace", "policy", "mode"])
AUDIT_OBJECTS: Final = Gauge("jupyternetes_audit_objects", "Objects judged by the last audit, by result",
                             ["kind", "result"])
AUDIT_LAST_RUN: Final = Gauge("jupyternetes_audit_last_run_timestamp_seconds",
                              "When the last audit finished (Unix time); 0 before the first")
AUDIT_DURATION: Final = Gauge("jupyternetes_audit_last_run_duration_seconds", "How long the last audit took")
AUDIT_RUNS: Final = Counter("jupyternetes_audit_runs_total", "Audits run, by outcome (ok, error)", ["outcome"])
