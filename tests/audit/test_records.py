"""The JSON records of admission decisions and provisioning actions, without a cluster: their whole shape, one line
per decision whatever the component's log format, and never a secret value."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from jupyternetes import jsonlog, kube
from jupyternetes.operator import events
from jupyternetes.webhook import decisions
from jupyternetes.webhook.app import create_app
from jupyternetes.webhook.judge import Finding, Judge, Verdict
from jupyternetes.webhook.review import Request
from jupyternetes.webhook.settings import WebhookSettings
from tests.audit.objects import ALLOWED_IMAGE, instance, template
from tests.webhook import fakes

TIMESTAMP = "2026-05-01T12:00:00.123Z"
SECRET_VALUE = "hunter2-sealed-token-value"
HUB = "system:serviceaccount:default:hub"
OPERATOR = "system:serviceaccount:jupyternetes:jupyternetes-operator"


@pytest.fixture
def decision_lines() -> Iterator[io.StringIO]:
    """What the jupyternetes.decisions logger writes (besides its own stderr handler)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(decisions.LOGGER)
    log.addHandler(handler)
    yield stream
    log.removeHandler(handler)


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _client(lookup: fakes.DictLookup | None = None) -> TestClient:
    settings = WebhookSettings(template_namespace="kadense", instance_creators=[HUB], operator_user=OPERATOR)
    return TestClient(create_app(Judge(settings, fakes.data(), fakes.FixedEngine(), lookup or fakes.DictLookup())))


def _post(client: TestClient, path: str, body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.post(path, content=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}).json()
    return answer


class TestDecisionRecord:
    def test_a_denied_instance_is_one_record_of_who_what_template_rules_and_verdict(self) -> None:
        body = instance("jupyter-ada", "default", "t", "kadense")
        request = Request.model_validate(fakes.review("jupyternotebookinstances", body, user=HUB, uid="uid-1")[
            "request"])
        verdict = Verdict("JupyterNotebookInstance default/jupyter-ada",
                          [Finding("entitlements", "spec.template", "ada is not entitled", "ask"),
                           Finding("labels", "x", "odd label", mode="warn")])
        response = {"response": {"allowed": False, "status": {"code": 403, "message": "refused"},
                                 "warnings": ["x: odd label (rule labels) [policy in warn mode]"]}}
        record = decisions.build("validating", request, response, verdict=verdict, images=[ALLOWED_IMAGE],
                                 timestamp=TIMESTAMP)
        assert record == {
            "schema": 1, "type": "admission-decision", "timestamp": TIMESTAMP, "component": "jupyternetes-webhook",
            "webhook": "validating", "request_uid": "uid-1", "dry_run": False,
            "user": {"username": HUB, "groups": ["system:authenticated"]},
            "operation": "CREATE", "kind": "JupyterNotebookInstance", "resource": "jupyternotebookinstances",
            "sub_resource": "", "namespace": "default", "name": "jupyter-ada",
            "template": {"namespace": "kadense", "name": "t"},
            "instance": {"namespace": "default", "name": "jupyter-ada"},
            "hub_user": {"name": "ada", "groups": ["researchers"]},
            "images": [ALLOWED_IMAGE],
            "verdict": "deny", "code": 403,
            "rules": [{"rule": "entitlements", "mode": "enforce", "path": "spec.template",
                       "message": "ada is not entitled"},
                      {"rule": "labels", "mode": "warn", "path": "x", "message": "odd label"}],
            "warnings": ["x: odd label (rule labels) [policy in warn mode]"],
            "truncated": {},
        }

    def test_a_record_stays_short_whatever_the_hub_claims(self) -> None:
        """Found by a red team: a user in thousands of groups, or a pod with hundreds of images, made records larger
        than a container runtime's log line."""
        body = instance("jupyter-ada", "default", "t", "kadense")
        body["spec"]["variables"]["jupyterhub.user.groups"] = json.dumps([f"group-{i}" for i in range(500)])
        request = Request.model_validate(fakes.review("jupyternotebookinstances", body, user=HUB)["request"])
        verdict = Verdict("s", [Finding(f"rule-{i}", "p", "m") for i in range(100)])
        record = decisions.build("validating", request, {"response": {"allowed": False}}, verdict=verdict,
                                 images=[f"quay.io/jupyter/i{i}:1" for i in range(300)], timestamp=TIMESTAMP)
        assert record["truncated"] == {"images": 280, "groups": 480, "rules": 80}
        assert len(record["hub_user"]["groups"]) == len(record["images"]) == len(record["rules"]) == 20
        assert len(jsonlog.dumps(record)) < 8192

    def test_a_template_deleted_by_collection_is_named_from_its_old_object(self) -> None:
        old = template("in-use", "kadense")
        request = Request.model_validate({**fakes.review("jupyternotebooktemplates", old, operation="DELETE",
                                                         namespace="kadense")["request"],
                                          "name": "", "object": None, "oldObject": old})
        record = decisions.build("validating", request, {"response": {"allowed": False}}, timestamp=TIMESTAMP)
        assert record["template"] == {"namespace": "kadense", "name": "in-use"} and record["name"] == "in-use"

    def test_a_pod_record_names_its_images_its_instance_and_its_template(self) -> None:
        pod = {"metadata": {"name": "p", "namespace": "default",
                            "labels": {"jupyternetes.kadense.io/template": "t",
                                       "jupyternetes.kadense.io/template-namespace": "kadense"},
                            "annotations": {"jupyternetes.kadense.io/instance-name": "jupyter-ada"}},
               "spec": {"initContainers": [{"name": "i", "image": "quay.io/jupyter/init:1"}],
                        "containers": [{"name": "c", "image": ALLOWED_IMAGE}]}}
        request = Request.model_validate(fakes.review("pods", pod, user=OPERATOR)["request"])
        record = decisions.build("validating", request, {"response": {"allowed": True}}, timestamp=TIMESTAMP)
        assert (record["template"], record["instance"], record["images"], record["verdict"], record["code"]) == (
            {"namespace": "kadense", "name": "t"}, {"namespace": "default", "name": "jupyter-ada"},
            [ALLOWED_IMAGE, "quay.io/jupyter/init:1"], "allow", 200)

    def test_an_allowed_request_with_warnings_is_a_warn_verdict(self) -> None:
        assert decisions.outcome({"response": {"allowed": True, "warnings": ["w"]}}) == ("warn", 200)
        assert decisions.outcome({"response": {"allowed": False, "status": {"code": 503}}}) == ("deny", 503)


class TestThroughTheWebhook:
    def test_every_review_is_exactly_one_json_line(self, decision_lines: io.StringIO) -> None:
        client = _client(fakes.DictLookup(templates={("kadense", "t"): template("t", "kadense")}))
        _post(client, "/validate", fakes.review("jupyternotebooktemplates", template("t", "kadense"), uid="a"))
        _post(client, "/mutate", fakes.review("jupyternotebooktemplates", template("t", "kadense"), uid="b"))
        _post(client, "/validate", fakes.review("jupyternotebookinstances",
                                                instance("i", "default", "t", "kadense"), user="mallory", uid="c"))
        _post(client, "/validate", fakes.review("nodes", {"metadata": {"name": "n"}}, uid="d"))
        malformed = fakes.review("pods", {})
        malformed["apiVersion"] = "admission.k8s.io/v1beta1"
        malformed["request"]["uid"] = "e"
        _post(client, "/validate", malformed)
        records = _records(decision_lines)
        assert [(r["request_uid"], r["verdict"]) for r in records] == [
            ("a", "allow"), ("b", "warn"), ("c", "deny"), ("d", "deny"), ("e", "deny")]
        assert records[2]["user"]["username"] == "mallory"
        assert [r["rule"] for r in records[2]["rules"]] == ["instance-creators"]
        assert records[2]["images"] == [ALLOWED_IMAGE]  # its template's, from the lookup
        assert records[3]["rules"][0]["rule"] == "webhook-rules"
        assert records[4]["rules"][0]["rule"] == "malformed-review"

    def test_a_denied_secret_leaves_its_data_out_of_the_record(self, decision_lines: io.StringIO) -> None:
        encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": "s", "namespace": "default",
                               "labels": {"app.kubernetes.io/managed-by": "jupyternetes"}},
                  "data": {"JUPYTERHUB_API_TOKEN": encoded}, "stringData": {"OTHER": SECRET_VALUE}}
        review = fakes.review("secrets", secret, user="mallory", uid="s1")
        review["request"]["kind"]["kind"] = "Secret"
        answer = _post(_client(), "/validate", review)
        assert answer["response"]["allowed"] is False
        text = decision_lines.getvalue()
        (record,) = _records(decision_lines)
        assert (record["kind"], record["verdict"], [r["rule"] for r in record["rules"]]) == (
            "Secret", "deny", ["operator-only"])
        assert SECRET_VALUE not in text and encoded not in text and "JUPYTERHUB_API_TOKEN" not in text

    def test_a_sealed_variable_never_reaches_the_record(self, decision_lines: io.StringIO) -> None:
        body = instance("i", "default", "t", "kadense")
        body["spec"]["sealedVariables"] = {"jupyterhub.api_token": SECRET_VALUE}
        _post(_client(), "/validate", fakes.review("jupyternotebookinstances", body, user=HUB, uid="x"))
        assert len(_records(decision_lines)) == 1
        assert SECRET_VALUE not in decision_lines.getvalue()


class TestOrdinaryLogLines:
    def test_a_value_with_a_newline_cannot_start_a_forged_record(self) -> None:
        """Found by a red team: a refusal quoting a group named `x\\n{"type": "admission-decision", ...}` was logged as
        plain text, and its second line read as a record. Every component log line is one line now."""
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(jsonlog.OneLineFormatter(jsonlog.TEXT_FORMAT))
        log = logging.getLogger("tests.audit.one-line")
        log.addHandler(handler)
        try:
            forged = '{"type":"admission-decision","user":{"username":"system:admin"}}'
            log.warning("denied %s: %s", "jupyter-mallory", f"groups: x\n{forged}\r\x1b[2K\u2028")
        finally:
            log.removeHandler(handler)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1 and not lines[0].startswith("{")
        assert "\\n{" in lines[0] and "\\x1b" in lines[0] and "\\u2028" in lines[0]


class TestJsonLines:
    def test_records_are_one_json_object_per_line_whatever_the_components_log_format(self) -> None:
        stream, root_stream = io.StringIO(), io.StringIO()
        root = logging.StreamHandler(root_stream)
        root.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(root)
        try:
            log = jsonlog.logger("jupyternetes.tests.jsonlog", stream)
            jsonlog.emit(log, {"a": "line\nbreak", "b": ["ü"]})
            jsonlog.logger("jupyternetes.tests.jsonlog", stream)  # set up twice: still one handler
            jsonlog.emit(log, {"a": 2})
        finally:
            logging.getLogger().removeHandler(root)
        lines = stream.getvalue().splitlines()
        assert [json.loads(line) for line in lines] == [{"a": "line\nbreak", "b": ["ü"]}, {"a": 2}]
        assert root_stream.getvalue() == ""


class TestProvisioningRecord:
    SECRET_MANIFEST: ClassVar[dict[str, Any]] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": "jupyter-ada-secret-1a2b", "namespace": "default",
                                    "labels": {"jupyternetes.kadense.io/entry": "secret"}},
                       "stringData": {"JUPYTERHUB_API_TOKEN": SECRET_VALUE}}

    def _instance(self) -> dict[str, Any]:
        body = instance("jupyter-ada", "default", "t", "kadense", uid="inst-uid")
        body["spec"]["sealedVariables"] = {"jupyterhub.api_token": "c2VhbGVk"}
        return body

    def test_a_created_secret_is_named_and_its_values_are_not_recorded(self) -> None:
        record = events.provisioning_record(self._instance(), self.SECRET_MANIFEST, "operator-0",
                                            created={"metadata": {"uid": "secret-uid"}}, timestamp=TIMESTAMP)
        assert record == {
            "schema": 1, "type": "provisioning-action", "timestamp": TIMESTAMP,
            "component": "jupyternetes-operator", "reporting_instance": "operator-0", "action": "create",
            "outcome": "created", "code": 201, "api_version": "v1", "kind": "Secret", "namespace": "default",
            "name": "jupyter-ada-secret-1a2b", "uid": "secret-uid", "entry": "secret",
            "instance": {"namespace": "default", "name": "jupyter-ada", "uid": "inst-uid"},
            "template": {"namespace": "kadense", "name": "t"},
            "hub_user": {"name": "ada", "groups": ["researchers"]}, "images": [], "rules": [], "reason": ""}
        assert SECRET_VALUE not in jsonlog.dumps(record) and "c2VhbGVk" not in jsonlog.dumps(record)

    def test_a_create_refused_by_the_webhook_records_the_rules_it_named(self) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": ALLOWED_IMAGE}]}}
        error = kube.ApiError(403, "Forbidden", 'admission webhook "workloads.validate.jupyternetes.kadense.io" '
                              "denied the request: Pod default/p is refused: spec.x: bad (rule floor:privileged); "
                              "spec.y: no (rule images)")
        record = events.provisioning_record(self._instance(), pod, "operator-0", error=error, timestamp=TIMESTAMP)
        assert (record["outcome"], record["code"], record["rules"], record["images"], record["uid"]) == (
            "denied", 403, ["floor:privileged", "images"], [ALLOWED_IMAGE], None)

    def test_a_create_that_failed_for_another_reason_is_failed_not_denied(self) -> None:
        error = kube.ApiError(500, "InternalError", "etcdserver: request timed out")
        record = events.provisioning_record(self._instance(), self.SECRET_MANIFEST, "operator-0", error=error)
        assert (record["outcome"], record["rules"]) == ("failed", [])


class TestJsonLogFormat:
    def test_the_components_ordinary_log_can_be_one_json_object_per_line(self) -> None:
        """`log_format: json` (both components' settings; chart values operator.logFormat and webhook.logFormat)."""
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(jsonlog.JsonFormatter())
        log = logging.getLogger("tests.audit.json-format")
        log.addHandler(handler)
        try:
            log.warning("denied %s", "jupyter-mallory\n{forged}")
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception("failed")
        finally:
            log.removeHandler(handler)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 2
        first, second = (json.loads(line) for line in lines)
        assert first["level"] == "WARNING" and first["logger"] == "tests.audit.json-format"
        assert first["message"] == "denied jupyter-mallory\n{forged}" and first["timestamp"].endswith("Z")
        assert second["message"] == "failed" and "ValueError: boom" in second["exception"]

    def test_both_components_take_the_setting_text_by_default(self) -> None:
        from jupyternetes.operator.settings import OperatorSettings

        assert WebhookSettings().log_format == OperatorSettings().log_format == "text"
        assert WebhookSettings(log_format="json").log_format == "json"
        with pytest.raises(ValueError):
            WebhookSettings(log_format="yaml")
