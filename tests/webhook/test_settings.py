"""The webhook's documented defaults, one by one, and the combinations it refuses."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pydantic
import pytest

from jupyternetes import eventloop
from jupyternetes.eventloop import EventLoop
from jupyternetes.webhook import main as webhook_main
from jupyternetes.webhook.settings import WebhookSettings
from tests.webhook import fakes


def test_documented_defaults() -> None:
    settings = WebhookSettings()
    expected = {
        "kubeconfig": None, "host": "0.0.0.0", "port": 8443, "tls_cert_file": None, "tls_key_file": None,
        "insecure_http": False, "development": False, "namespace": "jupyternetes",
        "service_name": "jupyternetes-webhook", "service_url": "", "certificate_secret": "jupyternetes-webhook-tls",
        "configuration_name": "jupyternetes-webhook", "manage_configurations": True, "certificate_days": 365.0,
        "rotate_before_days": 30.0, "check_interval_seconds": 60.0, "policy_dir": Path("policies"),
        "opa_url": "http://127.0.0.1:8181", "policy_engine": "opa", "opa_timeout_seconds": 2.0,
        "instance_creators": ["system:serviceaccount:jupyterhub:hub"],
        "operator_user": "system:serviceaccount:jupyternetes:jupyternetes-operator",
        "component_service_accounts": ["hub", "jupyternetes-operator", "jupyternetes-webhook"],
        "template_namespace": "",
        "exempt_namespaces": ["kube-system"], "timeout_seconds": 5, "watch_failure_seconds": 30.0, "event_loop": "uvloop",
        "log_format": "text", "audit_interval_seconds": 300.0,
    }
    assert {name: getattr(settings, name) for name in WebhookSettings.model_fields} == expected


def test_every_field_is_documented() -> None:
    source = inspect.getsource(WebhookSettings)
    for name in WebhookSettings.model_fields:
        declaration = source.index(f"    {name}:")
        following = source[declaration:].split("\n", 3)
        assert '"""' in following[1] or '"""' in following[2], f"{name} has no docstring"


@pytest.mark.parametrize(("fields", "message"), [
    ({"insecure_http": True}, "needs development: true"),
    ({"policy_engine": "none"}, "switches every Rego policy off"),
    ({"tls_cert_file": "/tmp/cert.pem"}, "go together"),
    ({"certificate_days": 10, "rotate_before_days": 10}, "shorter than certificate_days"),
    ({"timeout_seconds": 60}, "between 1 and 30"),
])
def test_refuses_unsafe_combinations(fields: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        WebhookSettings(**fields)


def test_refuses_to_start_with_an_empty_image_allowlist_in_enforce_mode() -> None:
    empty = fakes.data(images={"allowed": []})
    with pytest.raises(webhook_main.StartupRefused, match="images.allowed is empty"):
        webhook_main.check_configuration(WebhookSettings(), empty)
    webhook_main.check_configuration(WebhookSettings(development=True), empty)
    webhook_main.check_configuration(WebhookSettings(), fakes.data(images={"allowed": []}, modes={"images": "warn"}))


@pytest.mark.parametrize(("name", "loop_module"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_the_event_loop_setting_picks_the_loop_the_webhook_runs_on(name: EventLoop, loop_module: str) -> None:
    async def running_loop() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.run(running_loop(), name).split(".")[0] == loop_module
