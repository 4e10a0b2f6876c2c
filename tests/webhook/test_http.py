"""The webhook's HTTP layer: malformed input gets a clear 4xx or a denial, never a 500 and never "allowed"."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jupyternetes import kube
from jupyternetes.webhook.app import create_app
from jupyternetes.webhook.judge import Judge
from jupyternetes.webhook.settings import WebhookSettings
from tests import seeds
from tests.webhook import fakes

SETTINGS = WebhookSettings(template_namespace="kadense", instance_creators=["system:serviceaccount:default:hub"],
                           operator_user="system:serviceaccount:jupyternetes:jupyternetes-operator")


def _client(engine: fakes.FixedEngine | None = None, lookup: fakes.DictLookup | None = None) -> TestClient:
    judge = Judge(SETTINGS, fakes.data(), engine or fakes.FixedEngine(), lookup or fakes.DictLookup())
    return TestClient(create_app(judge))


def _post(client: TestClient, path: str, body: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("path", ["/validate", "/mutate"])
class TestMalformed:
    def test_not_json(self, path: str) -> None:
        response = _post(_client(), path, b"{not json")
        assert response.status_code == 400
        assert "not JSON" in response.json()["error"]

    def test_wrong_api_version_is_a_denial_naming_the_expected_one(self, path: str) -> None:
        body = fakes.review("pods", {})
        body["apiVersion"] = "admission.k8s.io/v1beta1"
        answer = _post(_client(), path, body).json()["response"]
        assert answer["allowed"] is False
        assert "expected apiVersion admission.k8s.io/v1" in answer["status"]["message"]

    def test_wrong_kind_is_a_denial(self, path: str) -> None:
        body = fakes.review("pods", {})
        body["kind"] = "TokenReview"
        answer = _post(_client(), path, body).json()["response"]
        assert answer["allowed"] is False and "kind AdmissionReview" in answer["status"]["message"]

    def test_wrong_api_version_without_a_uid_is_a_400(self, path: str) -> None:
        response = _post(_client(), path, {"apiVersion": "v1", "kind": "Pod"})
        assert response.status_code == 400
        assert "expected apiVersion admission.k8s.io/v1" in response.json()["error"]

    def test_missing_uid(self, path: str) -> None:
        body = fakes.review("pods", {})
        del body["request"]["uid"]
        response = _post(_client(), path, body)
        assert response.status_code == 400
        assert "request.uid" in response.json()["error"]

    def test_uid_present_but_operation_unknown_is_a_denial(self, path: str) -> None:
        body = fakes.review("pods", {})
        body["request"]["operation"] = "EXPLODE"
        response = _post(_client(), path, body)
        assert response.status_code == 200
        answer = response.json()["response"]
        assert answer["allowed"] is False and answer["uid"] == "1234"
        assert "malformed AdmissionReview" in answer["status"]["message"]

    def test_a_body_over_three_mebibytes(self, path: str) -> None:
        body = fakes.review("pods", {"metadata": {"name": "x", "annotations": {"big": "x" * (3 * 1024 * 1024)}}})
        response = _post(_client(), path, body)
        assert response.status_code == 413
        assert "at most 3145728" in response.json()["error"]

    def test_an_unknown_resource_is_denied(self, path: str) -> None:
        response = _post(_client(), path, fakes.review("deployments", {"metadata": {"name": "d"}}))
        assert response.status_code == 200
        answer = response.json()["response"]
        assert answer["allowed"] is False
        assert "does not judge 'deployments'" in answer["status"]["message"]


def test_an_internal_error_denies_with_a_500_code_inside_a_200_answer() -> None:
    class Broken(fakes.DictLookup):
        async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise RuntimeError("boom")

    body = fakes.review("jupyternotebookinstances", seeds.seed_instance(), user="system:serviceaccount:default:hub")
    response = _post(_client(lookup=Broken()), "/validate", body)
    assert response.status_code == 200
    answer = response.json()["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 500
    assert "internal error" in answer["status"]["message"]


def test_a_review_that_outlives_the_api_servers_timeout_gives_up_and_denies() -> None:
    """Found by a review: a review whose lookups wait (for the client's connections, all held by slower requests)
    kept its place long after the API server had stopped waiting for it. It now gives up at the API server's timeout
    (`timeout_seconds`), with a denial that says so."""
    class Slow(fakes.DictLookup):
        async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
            await asyncio.sleep(30)
            raise AssertionError("not reached")

    settings = SETTINGS.model_copy(update={"timeout_seconds": 1})
    client = TestClient(create_app(Judge(settings, fakes.data(), fakes.FixedEngine(), Slow())))
    body = fakes.review("jupyternotebookinstances", seeds.seed_instance(), user="system:serviceaccount:default:hub")
    started = time.monotonic()
    response = _post(client, "/validate", body)
    assert time.monotonic() - started < 10
    answer = response.json()["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 503
    assert "could not judge this request within 0.5 s (the API server's timeout for it)" in answer["status"]["message"]


def test_an_api_server_that_does_not_answer_what_a_decision_needs_denies_with_503_not_500() -> None:
    """A 500 says that the webhook itself failed, and the spawner does not ask again; the API server failing to
    answer the webhook's own read is a moment's trouble (503), which it does ask again."""
    class Unreachable(fakes.DictLookup):
        async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise kube.Unreachable(0, "Unreachable", "GET /apis/kadense.io/v1/...: ServerDisconnectedError")

    body = fakes.review("jupyternotebookinstances", seeds.seed_instance(), user="system:serviceaccount:default:hub")
    answer = _post(_client(lookup=Unreachable()), "/validate", body).json()["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 503
    assert "could not read what it needs from the API server" in answer["status"]["message"]


def test_policy_engine_unavailable_denies_and_says_so() -> None:
    engine = fakes.FixedEngine(fail="the policy engine (OPA at http://127.0.0.1:8181) did not answer within 2s")
    response = _post(_client(engine), "/validate", fakes.review("jupyternotebooktemplates", seeds.seed_template()))
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert "did not answer within 2s" in answer["status"]["message"]
    assert "nothing is admitted without a policy decision" in answer["status"]["message"]
    # "Not now", not "no": a client (the operator) retries a 503 and reports admission as unavailable.
    assert (answer["status"]["code"], answer["status"]["reason"]) == (503, "ServiceUnavailable")


def test_a_refusal_that_needs_no_policy_engine_stays_a_403_while_the_engine_is_down() -> None:
    engine = fakes.FixedEngine(fail="the policy engine (OPA at http://127.0.0.1:8181) did not answer within 2s")
    template = seeds.seed_template()
    template["spec"]["pods"][0]["spec"]["hostPID"] = True
    response = _post(_client(engine), "/validate", fakes.review("jupyternotebooktemplates", template))
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert (answer["status"]["code"], answer["status"]["reason"]) == (403, "Forbidden")
    assert "(rule floor:host-namespaces)" in answer["status"]["message"]
    assert "(rule policy-engine)" in answer["status"]["message"]


def test_the_seed_template_is_mutated_with_every_default_reported() -> None:
    response = _post(_client(), "/mutate", fakes.review("jupyternotebooktemplates", seeds.seed_template()))
    answer = response.json()["response"]
    assert answer["allowed"] is True
    patch = json.loads(base64.b64decode(answer["patch"]))
    assert [op["path"] for op in patch] == ["/spec/pods/0/spec"]
    assert patch[0]["value"]["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert answer["warnings"] == [f"Jupyternetes default: spec.pods[0].{change}"
                                  for change in seeds.SEED_POD_DEFAULTS]
    assert all(len(w) <= 256 for w in answer["warnings"])


def test_dry_run_is_judged_like_a_real_request() -> None:
    body = fakes.review("jupyternotebookinstances", seeds.seed_instance(), user="someone", dry_run=True)
    answer = _post(_client(), "/validate", body).json()["response"]
    assert answer["allowed"] is False
    assert "may not create notebook instances" in answer["status"]["message"]


def test_health_and_metrics() -> None:
    client = _client()
    assert client.get("/healthz").json() == {"status": "ok"}
    _post(client, "/validate", fakes.review("deployments", {}))
    metrics = client.get("/metrics").text
    assert ('jupyternetes_webhook_decisions_total{dry_run="false",kind="unknown",outcome="denied",'
            'webhook="validating"}') in metrics
    assert "jupyternetes_webhook_request_duration_seconds_bucket" in metrics
