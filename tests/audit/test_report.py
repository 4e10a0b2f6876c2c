"""The audit's report, without a cluster: what each object's result is, the table, the JSON, the Events and the metric
series, and the Judge's stored_* methods that it is built on."""

from __future__ import annotations

from typing import Any

from jupyternetes.webhook import audit
from jupyternetes.webhook.judge import Finding, Judge, Verdict
from jupyternetes.webhook.policy import PolicyViolation
from jupyternetes.webhook.settings import WebhookSettings
from tests.audit.objects import ALLOWED_IMAGE, RETIRED_IMAGE, instance, template
from tests.webhook import fakes

TIMESTAMP = "2026-05-01T12:00:00.123Z"
IMAGES = PolicyViolation("images", "spec.pods[0].spec.containers[0].image", "image x is not allowed", "use y")


def _result(*findings: Finding, kind: str = "JupyterNotebookTemplate", name: str = "t", uid: str = "u1"
            ) -> audit.ObjectResult:
    obj = {"metadata": {"name": name, "namespace": "kadense", "uid": uid}}
    return audit.from_verdict(kind, obj, Verdict(f"{kind} kadense/{name}", list(findings)))


def _judge(engine: fakes.FixedEngine, lookup: fakes.DictLookup | None = None) -> Judge:
    settings = WebhookSettings(template_namespace="kadense", instance_creators=["system:serviceaccount:x:hub"])
    return Judge(settings, fakes.data(), engine, lookup or fakes.DictLookup())


class TestResults:
    def test_an_enforced_violation_fails_the_object(self) -> None:
        assert _result(Finding("images", "p", "m")).result == "fail"

    def test_violations_of_warn_or_audit_mode_policies_only_warn(self) -> None:
        assert _result(Finding("images", "p", "m", mode="warn"), Finding("labels", "p", "m", mode="audit")
                       ).result == "warn"

    def test_no_violation_passes(self) -> None:
        assert _result().result == "pass"

    def test_the_policy_engine_not_answering_is_an_error_and_not_a_pass(self) -> None:
        assert _result(Finding("policy-engine", "", "OPA is down")).result == "error"

    def test_the_report_fails_only_on_objects_with_enforced_violations(self) -> None:
        report = audit.Report("policies", TIMESTAMP, [_result(Finding("images", "p", "m", mode="warn"), name="a"),
                                                      _result(name="b")])
        assert report.failed == []
        report.results.append(_result(Finding("images", "p", "m"), name="c"))
        assert [r.name for r in report.failed] == ["c"]
        assert report.summary() == {"pass": 1, "warn": 1, "fail": 1, "error": 0}


class TestFormats:
    def test_the_json_report_has_each_objects_kind_namespace_name_result_and_every_violation(self) -> None:
        report = audit.Report("tight/", TIMESTAMP, [
            _result(Finding("images", "spec.pods[0].spec.containers[0].image", "not allowed", "fix it"), name="t"),
            _result(kind="JupyterNotebookInstance", name="i", uid="u2")])
        assert report.as_dict() == {
            "apiVersion": "jupyternetes.kadense.io/v1", "kind": "AuditReport", "timestamp": TIMESTAMP,
            "policies": "tight/", "summary": {"pass": 1, "warn": 0, "fail": 1, "error": 0},
            "results": [
                {"kind": "JupyterNotebookTemplate", "namespace": "kadense", "name": "t", "uid": "u1",
                 "result": "fail", "violations": [{"rule": "images", "path": "spec.pods[0].spec.containers[0].image",
                                                   "message": "not allowed", "mode": "enforce"}], "warnings": []},
                {"kind": "JupyterNotebookInstance", "namespace": "kadense", "name": "i", "uid": "u2",
                 "result": "pass", "violations": [], "warnings": []}]}

    def test_the_table_lists_what_does_not_pass_with_each_violation_then_a_summary(self) -> None:
        report = audit.Report("tight/", TIMESTAMP, [
            _result(Finding("images", "spec.x", "not allowed"), Finding("labels", "", "odd", mode="warn"), name="bad"),
            _result(name="good", uid="u2")])
        assert audit.table(report) == (
            "KIND      NAMESPACE  NAME  RESULT  RULES\n"
            "template  kadense    bad   FAIL    images,labels\n"
            "    enforce: images: spec.x: not allowed\n"
            "    warn: labels: odd\n"
            f"2 objects audited against tight/ at {TIMESTAMP}: 1 pass, 0 warn, 1 fail, 0 error\n")
        assert "good" in audit.table(report, show_passing=True)

    def test_the_table_says_so_when_nothing_violates_anything(self) -> None:
        assert audit.table(audit.Report("p", TIMESTAMP, [_result()])).startswith(
            "No object violates the policies.\n1 objects audited")


class TestEventsAndMetrics:
    def test_the_event_is_a_warning_on_the_object_naming_the_rules(self) -> None:
        result = _result(Finding("images", "spec.x", "image x is not allowed"), name="t")
        event = audit.event_for(result, "webhook-0", TIMESTAMP)
        assert event["type"] == "Warning" and event["reason"] == "PolicyViolation"
        assert event["involvedObject"] == {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                                           "name": "t", "namespace": "kadense", "uid": "u1"}
        assert event["metadata"]["namespace"] == "kadense"
        assert event["message"].startswith("The current policies would refuse this template (1 enforced "
                                           "violation(s)); rules: images. images (enforce): spec.x: image x is not "
                                           "allowed")
        assert event["firstTimestamp"] == "2026-05-01T12:00:00Z"

    def test_the_events_name_stays_while_the_violations_do_and_changes_with_them(self) -> None:
        first = _result(Finding("images", "spec.x", "not allowed"))
        assert audit.event_name(first) == audit.event_name(_result(Finding("images", "spec.x", "not allowed")))
        assert audit.event_name(first) != audit.event_name(_result(Finding("images", "spec.y", "not allowed")))
        assert audit.event_name(first) != audit.event_name(_result(Finding("images", "spec.x", "not allowed"),
                                                                   uid="another-object-of-the-same-name"))
        assert audit.event_name(first).startswith("t.audit-")

    def test_a_long_message_is_cut_to_the_events_limit(self) -> None:
        result = _result(*[Finding(f"rule{i}", f"spec.f{i}", "x" * 100) for i in range(20)])
        assert len(audit.event_message(result)) == audit.MAX_EVENT_MESSAGE

    def test_metric_series_count_violations_by_kind_namespace_policy_and_mode_and_never_name_an_object(self) -> None:
        report = audit.Report("p", TIMESTAMP, [
            _result(Finding("images", "a", "m"), Finding("images", "b", "m"), name="one"),
            _result(Finding("images", "a", "m"), Finding("labels", "a", "m", mode="warn"), name="two", uid="u2"),
            _result(Finding("policy-engine", "", "down"), name="three", uid="u3")])
        assert audit.violation_series(report) == {("template", "kadense", "images", "enforce"): 3,
                                                  ("template", "kadense", "labels", "warn"): 1}
        objects = audit.object_series(report)
        assert objects[("template", "fail")] == 2 and objects[("template", "error")] == 1
        assert objects[("instance", "pass")] == 0


class TestJudgingStoredObjects:
    async def test_a_template_an_instance_and_a_pod_are_judged_by_the_floor_and_the_policies(self) -> None:
        stored = template("t", "kadense", RETIRED_IMAGE, uid="t-uid")
        lookup = fakes.DictLookup(templates={("kadense", "t"): stored})
        pod = {"metadata": {"name": "p", "namespace": "default", "uid": "p-uid"},
               "spec": {"containers": [{"name": "c", "image": RETIRED_IMAGE}]}}
        report = await audit.judge_all(_judge(fakes.FixedEngine([IMAGES]), lookup), [
            ("JupyterNotebookTemplate", stored),
            ("JupyterNotebookInstance", instance("i", "default", "t", "kadense", uid="i-uid")),
            ("Pod", pod)], "p")
        assert [(r.kind, r.name, r.result) for r in report.results] == [
            ("JupyterNotebookTemplate", "t", "fail"), ("JupyterNotebookInstance", "i", "fail"), ("Pod", "p", "fail")]
        assert all("images" in r.rules for r in report.results)
        # The pod, as written, breaks the restricted floor as well (no securityContext): the floor is applied.
        assert any(rule.startswith("floor:") for rule in report.results[2].rules)

    async def test_a_stored_instance_is_not_asked_again_who_created_it(self) -> None:
        """The audit's made-up request is nobody's: an instance must not fail for `instance-creators`."""
        lookup = fakes.DictLookup(templates={("kadense", "t"): template("t", "kadense")})
        report = await audit.judge_all(_judge(fakes.FixedEngine(), lookup), [
            ("JupyterNotebookInstance", instance("i", "default", "t", "kadense", uid="i-uid"))], "p")
        assert report.results[0].violations == ()

    async def test_an_instance_whose_template_is_gone_fails_naming_it(self) -> None:
        report = await audit.judge_all(_judge(fakes.FixedEngine()), [
            ("JupyterNotebookInstance", instance("i", "default", "gone", "kadense", uid="i-uid"))], "p")
        assert report.results[0].rules == ["template-missing"]

    async def test_a_scheduled_pods_node_name_is_not_held_against_it(self) -> None:
        pod: dict[str, Any] = {"metadata": {"name": "p", "namespace": "default"}, "spec": {
            "nodeName": "node-1", "containers": [{"name": "c", "image": ALLOWED_IMAGE}]}}
        verdict = await _judge(fakes.FixedEngine()).stored_pod(pod)
        assert not [f for f in verdict.findings if "nodeName" in f.path]
        assert pod["spec"]["nodeName"] == "node-1"  # the stored object is not changed

    async def test_objects_being_deleted_are_left_out(self) -> None:
        going = template("t", "kadense", uid="t-uid")
        going["metadata"]["deletionTimestamp"] = "2026-05-01T12:00:00Z"
        report = await audit.judge_all(_judge(fakes.FixedEngine()), [("JupyterNotebookTemplate", going)], "p")
        assert report.results == []


class TestEscaping:
    def test_the_table_escapes_what_could_drive_the_officers_terminal(self) -> None:
        """Found by a red team: a group name with terminal escapes, quoted in a violation, erased the FAIL row."""
        hidden = "x\x1b[2K\x1b[1A\rNo object violates the policies.\x1b[8m"
        text = audit.table(audit.Report("p", TIMESTAMP, [_result(Finding("entitlements", "spec.template", hidden),
                                                                 name="jupyter-\x1b[8mmallory")]))
        assert "\x1b" not in text and "\r" not in text
        assert "FAIL" in text and "\\x1b[2K" in text


class _Caches:
    def __init__(self, templates: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.templates = type("Cache", (), {"items": templates})()
        self.instances = type("Cache", (), {"items": {}})()


class _Events:
    """Where the audit's Events go; a unit test of the metrics needs no API server."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append(body)
        return body


async def test_an_audit_the_policy_engine_did_not_answer_leaves_the_violation_metrics_as_they_were() -> None:
    """Found by a red team: an OPA outage cleared jupyternetes_audit_violations and still counted as a completed audit,
    so the "something fails" alert resolved and the "no audit lately" alert stayed quiet."""
    from prometheus_client import REGISTRY

    from jupyternetes.webhook.audit_runs import PeriodicAudit

    engine = fakes.FixedEngine([IMAGES])
    settings = WebhookSettings(template_namespace="kadense", audit_interval_seconds=300)
    caches = _Caches({("kadense", "t"): template("t", "kadense", image=RETIRED_IMAGE, uid="uid-t")})
    periodic = PeriodicAudit(_judge(engine), caches, _Events(), settings, "test")  # type: ignore[arg-type]
    labels = {"kind": "template", "namespace": "kadense", "policy": "images", "mode": "enforce"}
    await periodic.once()
    assert REGISTRY.get_sample_value("jupyternetes_audit_violations", labels) == 1
    finished = REGISTRY.get_sample_value("jupyternetes_audit_last_run_timestamp_seconds")
    engine.fail = "OPA is down"
    report = await periodic.once()
    assert [r.result for r in report.results] == ["error"]
    assert REGISTRY.get_sample_value("jupyternetes_audit_violations", labels) == 1
    assert REGISTRY.get_sample_value("jupyternetes_audit_objects", {"kind": "template", "result": "error"}) == 1
    assert REGISTRY.get_sample_value("jupyternetes_audit_last_run_timestamp_seconds") == finished
