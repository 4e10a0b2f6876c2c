"""Prometheus metrics of the webhook, served at /metrics."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

DECISIONS: Final = Counter("jupyternetes_webhook_decisions_total", "Admission decisions",
                           ["webhook", "kind", "outcome"])
LATENCY: Final = Histogram("jupyternetes_webhook_request_seconds", "Time to answer one AdmissionReview",
                           ["webhook"], buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
POLICY_ERRORS: Final = Counter("jupyternetes_webhook_policy_engine_errors_total",
                               "Reviews denied because OPA did not answer")
POLICY_SECONDS: Final = Histogram("jupyternetes_webhook_policy_query_seconds", "Time for OPA to answer one query",
                                  buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
