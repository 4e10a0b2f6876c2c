"""Prometheus metrics of the operator, served on `metrics_port` at /metrics."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

RECONCILES: Final = Counter(
    "jupyternetes_operator_reconciles_total", "Reconciles of instances, by what happened next", ["result"])
RECONCILE_SECONDS: Final = Histogram(
    "jupyternetes_operator_reconcile_duration_seconds", "Time to reconcile one instance",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ERRORS: Final = Counter(
    "jupyternetes_operator_errors_total", "Instances that ended a reconcile with a problem, by reason", ["reason"])
API_REQUESTS: Final = Counter(
    "jupyternetes_operator_api_requests_total",
    "Requests the operator made to the Kubernetes API (watches excluded), by method and status",
    ["method", "status"])
QUEUE_DEPTH: Final = Gauge("jupyternetes_operator_queue_depth", "Instances queued or being reconciled")
WATCH_FAILURES: Final = Counter(
    "jupyternetes_operator_watch_failures_total",
    "Watches that failed with an error kopf does not retry (such as 403 Forbidden), by kind", ["resource"])
LEADER: Final = Gauge("jupyternetes_operator_leader", "1 while this replica holds the leader lease")


def count_request(method: str, path: str, status: int) -> None:
    API_REQUESTS.labels(method, str(status)).inc()
