"""The operator's documented defaults, one by one, and the combinations it refuses."""

from __future__ import annotations

import pydantic
import pytest

from jupyternetes.operator.settings import OperatorSettings


def test_documented_defaults() -> None:
    settings = OperatorSettings()
    assert settings.kubeconfig is None
    assert settings.namespaces == []
    assert settings.template_namespace == ""
    assert settings.allowed_kinds == []
    assert settings.pvc_retention == "keep"
    assert settings.resync_seconds == 300.0
    assert settings.workers == 20
    assert settings.api_connections is None and settings.connections() == 10
    assert settings.retry_base_seconds == 1.0
    assert settings.retry_max_seconds == 300.0
    assert settings.waiting_requeue_seconds == 2.0
    assert settings.status_settle_seconds == 1.0
    assert settings.sealing_key_file is None
    assert settings.leader_election is True
    assert settings.lease_namespace == "jupyternetes"
    assert settings.lease_name == "jupyternetes-operator"
    assert settings.lease_duration_seconds == 15.0
    assert settings.lease_renew_seconds == 5.0
    assert settings.identity == ""
    assert settings.log_format == "text"
    assert settings.metrics_port == 8080
    assert settings.health_port == 8081


def test_every_field_is_documented() -> None:
    source = __import__("inspect").getsource(OperatorSettings)
    for name in OperatorSettings.model_fields:
        declaration = source.index(f"    {name}:")
        assert '"""' in source[declaration: declaration + 400].split("\n", 2)[1], f"{name} has no docstring"


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERNETES_OPERATOR_NAMESPACES", '["users", "staff"]')
    monkeypatch.setenv("JUPYTERNETES_OPERATOR_PVC_RETENTION", "delete")
    monkeypatch.setenv("JUPYTERNETES_OPERATOR_ALLOWED_KINDS", '["v1/Service"]')
    settings = OperatorSettings()
    assert settings.namespaces == ["users", "staff"]
    assert settings.pvc_retention == "delete"
    assert settings.allowed_kinds == ["v1/Service"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"allowed_kinds": ["Service"]}, "must be apiVersion/Kind"),
        ({"allowed_kinds": ["v1/Pod"]}, "belongs in the template's pods"),
        ({"allowed_kinds": ["apps/v1/Deployment"]}, "cannot be judged by the admission webhook"),
        ({"allowed_kinds": ["rbac.authorization.k8s.io/v1/RoleBinding"]}, "cannot be judged by the admission webhook"),
        ({"pvc_retention": "forever"}, "keep"),
        ({"lease_duration_seconds": 4, "lease_renew_seconds": 3}, "at most half"),
        ({"workers": 0}, "at least 1"),
    ],
)
def test_refuses_unsafe_or_meaningless_values(fields: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        OperatorSettings(**fields)


def test_template_namespace_policy_is_own_namespace_plus_the_configured_one() -> None:
    settings = OperatorSettings(template_namespace="kadense")
    assert settings.template_namespace_allowed("default", "default")
    assert settings.template_namespace_allowed("default", "kadense")
    assert not settings.template_namespace_allowed("default", "kube-system")
    assert not OperatorSettings().template_namespace_allowed("default", "kadense")


def test_watching_a_list_of_namespaces_includes_the_template_namespace() -> None:
    assert OperatorSettings(namespaces=["users"], template_namespace="kadense").watched_namespaces() == [
        "kadense", "users"]
    assert OperatorSettings(template_namespace="kadense").watched_namespaces() == []
