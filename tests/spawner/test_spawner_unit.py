"""The spawner's pure parts: naming, the instance it asks for, profiles, progress and failure messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traitlets import TraitError

from jupyternetes import kube, models, naming, sealing
from jupyternetes.spawner import SpawnError
from jupyternetes.spawner import privileges, profiles
from jupyternetes.spawner.spawner import (
    JupyternetesSpawner,
    _new_progress,
    _progress_messages,
    has_failed,
    is_ready,
    may_pass_if_asked_again,
    retry_pause,
    server_url,
)
from tests.spawner.mock import spawner

KEY = sealing.new_private_key()
PUBLIC_PEM = sealing.public_key_pem(KEY).decode()


class TestNaming:
    def test_plain_names_are_readable(self) -> None:
        assert naming.instance_name("jovyan") == "jupyter-jovyan"
        assert naming.instance_name("jovyan", "gpu") == "jupyter-jovyan--gpu"

    def test_a_trailing_newline_is_never_taken_for_a_safe_name(self) -> None:
        """Found by the property below: Python's `$` also matches before a final newline, so "0\n" passed as a safe
        slug and as a DNS label. Every name check now matches the whole text."""
        assert naming.is_dns1123_label(naming.instance_name("0\n", "0"))
        assert not naming.is_dns1123_label("abc\n")
        assert not naming.is_dns1123_subdomain("abc\n")
        assert not naming.is_label_value("abc\n")
        assert naming.safe_slug("abc\n") != "abc\n"

    @settings(max_examples=300, deadline=None)
    @given(user=st.text(min_size=1, max_size=80), server=st.text(max_size=80))
    def test_every_name_is_a_short_dns_label(self, user: str, server: str) -> None:
        name = naming.instance_name(user, server)
        assert naming.is_dns1123_label(name) and len(name) <= 58

    @settings(max_examples=300, deadline=None)
    @given(a=st.tuples(st.text(min_size=1, max_size=30), st.text(max_size=30)),
           b=st.tuples(st.text(min_size=1, max_size=30), st.text(max_size=30)))
    def test_different_users_or_servers_never_share_a_name(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        if a != b:
            assert naming.instance_name(*a) != naming.instance_name(*b)

    @settings(max_examples=300, deadline=None)
    @given(user=st.text(min_size=1, max_size=40), server=st.text(max_size=40))
    def test_nobody_can_take_a_name_by_calling_themselves_after_another_users_slug(self, user: str,
                                                                                   server: str) -> None:
        """`bob.smith` becomes `bob-smith-<hash>`; a user who registers that very string must not get the same
        instance (and with it bob's workspace)."""
        for impostor in ({naming.safe_slug(user), naming.instance_name(user, server).removeprefix("jupyter-")}
                         - {user}):
            assert naming.instance_name(impostor, server) != naming.instance_name(user, server)
            assert naming.instance_name(user, impostor) != naming.instance_name(user, server) or impostor == server

    def test_the_reported_takeover_is_closed(self) -> None:
        victim = naming.instance_name("bob.smith")
        assert naming.instance_name(victim.removeprefix("jupyter-")) != victim

    def test_look_alikes_differ(self) -> None:
        names = {naming.instance_name(u, s) for u, s in [("Jovyan", ""), ("jovyan", ""), ("jovyan-", ""),
                                                          ("jo.vyan", ""), ("jo-vyan", ""), ("a", "b--c"),
                                                          ("a--b", "c")]}
        assert len(names) == 7


class TestTheInstance:
    def test_carries_the_seeds_variables_and_the_hub_environment(self) -> None:
        body = spawner(operator_public_key=PUBLIC_PEM, template="default-template",
                       template_namespace="kadense", hub_namespace="kadense").build_instance("jupyter-jovyan",
                                                                                             "default")
        variables = body["spec"]["variables"]
        assert body["spec"]["template"] == {"name": "default-template", "namespace": "kadense"}
        assert variables["jupyterhub.user.name"] == "jovyan"
        assert variables["jupyterhub.user.id"] == "7"
        assert variables["jupyterhub.namespace"] == "kadense"
        assert variables["jupyterhub.oauth_client_id"] == "jupyterhub-user-jovyan"
        assert variables["jupyternetes.instance.name"] == "jupyter-jovyan"
        assert variables["jupyternetes.instance.namespace"] == "default"
        assert variables["jupyterhub.env.JUPYTERHUB_SERVICE_PREFIX"] == "/user/jovyan/"
        assert variables["jupyterhub.env.JUPYTERHUB_API_URL"].endswith("/api")

    def test_the_token_is_never_in_plain_text(self) -> None:
        body = spawner(operator_public_key=PUBLIC_PEM).build_instance("jupyter-jovyan", "default")
        text = json.dumps(body)
        assert "t0ken-for-tests" not in text
        assert set(body["spec"]["sealedVariables"]) == {"jupyterhub.api_token", "jupyterhub.env.JUPYTERHUB_API_TOKEN",
                                                        "jupyterhub.env.JPY_API_TOKEN"}
        opened = sealing.open_instance(KEY, models.parse_instance(body))
        assert opened == dict.fromkeys(body["spec"]["sealedVariables"], "t0ken-for-tests")

    def test_without_the_operators_key_nothing_is_sent(self) -> None:
        with pytest.raises(SpawnError, match="operator_public_key is not configured"):
            spawner().build_instance("jupyter-jovyan", "default")

    def test_a_profile_chooses_the_template_and_adds_variables(self) -> None:
        choices = [{"display_name": "Small", "slug": "small", "template": "small"},
                   {"display_name": "Course", "slug": "course", "template": "course", "template_namespace": "kadense",
                    "variables": {"course": "stats101"}, "default": True}]
        s = spawner(operator_public_key=PUBLIC_PEM, profile_list=choices)
        body = s.build_instance("jupyter-jovyan", "default")
        assert body["spec"]["template"] == {"name": "course", "namespace": "kadense"}
        assert body["spec"]["variables"]["course"] == "stats101"
        s.user_options = {"profile": "small"}
        assert s.build_instance("jupyter-jovyan", "default")["spec"]["template"] == {"name": "small"}
        s.user_options = {"profile": "huge"}
        with pytest.raises(SpawnError, match="there is no profile 'huge'; choose one of 'small', 'course'"):
            s.build_instance("jupyter-jovyan", "default")


class TestProfiles:
    CHOICES = [{"display_name": "A <b>", "slug": "a", "template": "t", "description": "first & best"},
               {"display_name": "B", "slug": "b", "template": "u", "default": True}]

    def test_the_form_escapes_and_checks_the_default(self) -> None:
        form = profiles.options_form(self.CHOICES)
        assert "A &lt;b&gt;" in form and "first &amp; best" in form
        assert 'value="b" checked' in form and 'value="a" checked' not in form

    def test_the_form_data_gives_the_slug(self) -> None:
        assert profiles.from_form({"profile": ["a"]}) == {"profile": "a"}
        assert profiles.from_form({}) == {}

    @pytest.mark.parametrize(("entry", "message"), [
        ({"display_name": "x", "slug": "x"}, "needs a non-empty string 'template'"),
        ({"display_name": "x", "slug": "y", "template": "t", "image": "y"}, r"unknown keys \['image'\]"),
    ])
    def test_bad_profile_lists_are_refused(self, entry: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            profiles.validate([self.CHOICES[0], entry])

    def test_the_trait_validates(self) -> None:
        import traitlets

        with pytest.raises(traitlets.TraitError, match="slug 'a' is used twice"):
            spawner(profile_list=[self.CHOICES[0], self.CHOICES[0]])


def _instance(status: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "jupyter-jovyan", "generation": generation}, "status": {
        "observedGeneration": 1, **status}}


def _conditions(ready: str, degraded: str = "False", progressing: str = "True", reason: str = "",
                message: str = "") -> list[dict[str, str]]:
    return [{"type": "Ready", "status": ready, "reason": reason, "message": message},
            {"type": "Degraded", "status": degraded, "reason": reason, "message": message},
            {"type": "Progressing", "status": progressing, "reason": reason, "message": message}]


class TestReadingStatus:
    def test_ready_only_when_the_operator_has_seen_this_generation(self) -> None:
        assert is_ready(_instance({"conditions": _conditions("True")}))
        assert not is_ready(_instance({"conditions": _conditions("True")}, generation=2))

    def test_failed_means_degraded_and_no_longer_progressing(self) -> None:
        assert has_failed(_instance({"conditions": _conditions("False", "True", "False")}))
        assert not has_failed(_instance({"conditions": _conditions("False", "True", "True")}))
        assert has_failed(None)

    def test_the_url_comes_from_the_pods_ip_and_port(self) -> None:
        instance = _instance({"pods": {"notebook": {"podIP": "10.244.0.7", "port": 8888}}})
        assert server_url(instance) == "http://10.244.0.7:8888"
        assert server_url(_instance({"pods": {"n": {"podIP": "fd00::7", "port": 8888}}})) == "http://[fd00::7]:8888"
        with pytest.raises(SpawnError, match="reports no address"):
            server_url(_instance({"pods": {"notebook": {"state": "Running"}}}))

    @pytest.mark.parametrize(("ip", "port", "networks"), [
        ("169.254.169.254", 80, None), ("fe80::1", 8888, None), ("0.0.0.0", 8888, None), ("10.244.0.7", 0, None),
        ("10.244.0.7", "8888; x", None), ("not-an-ip", 8888, None), ("192.168.1.10", 8888, ["10.244.0.0/16"]),
        ("::ffff:169.254.169.254", 80, None), ("::ffff:0.0.0.0", 8888, None), ("127.0.0.1", 8081, None),
        ("::ffff:127.0.0.1", 8081, None), ("::1", 8081, None), ("::ffff:10.0.0.1", 8888, ["10.244.0.0/16"]),
    ])
    def test_an_address_no_notebook_server_has_is_refused(self, ip: str, port: Any, networks: list[str] | None
                                                         ) -> None:
        """The status is the operator's word, and the proxy sends users' requests there: a breached operator
        must not be able to send them to a cloud's metadata service or outside the pod network."""
        with pytest.raises(SpawnError, match="not where notebook servers run|not an IP address|reports no address"):
            server_url(_instance({"pods": {"notebook": {"podIP": ip, "port": port}}}), networks)

    def test_an_address_in_the_pod_network_is_accepted(self) -> None:
        instance = _instance({"pods": {"notebook": {"podIP": "10.244.3.7", "port": 8888}}})
        assert server_url(instance, ["10.244.0.0/16"]) == "http://10.244.3.7:8888"

    def test_a_loopback_pod_network_must_be_named_to_be_used(self) -> None:
        """As under `dev up`, where the kubelet stand-in serves pods on loopback addresses."""
        instance = _instance({"pods": {"notebook": {"podIP": "127.1.0.7", "port": 8888}}})
        assert server_url(instance, ["127.1.0.0/16"]) == "http://127.1.0.7:8888"

    def test_progress_messages_follow_the_status_and_are_json(self) -> None:
        instance = _instance({"pvcs": {"home": {"state": "Provisioned"}},
                              "pods": {"notebook": {"state": "Running"}}, "conditions": _conditions("True")})
        messages = _progress_messages("jupyter-jovyan", instance)
        assert [m["progress"] for m in messages] == [10, 30, 60, 90]
        assert all(isinstance(m["progress"], int) and isinstance(m["message"], str) for m in messages)
        json.dumps(messages)

    def test_the_progress_bar_never_moves_back(self) -> None:
        """Reported: a waiting message (progress 10) was sent after the pod's 60, and the bar jumped back."""
        seen: set[str] = set()
        running = _instance({"pods": {"notebook": {"state": "Provisioned"}},
                             "conditions": _conditions("False", reason="Provisioning", message="provisioning")})
        first, furthest = _new_progress(_progress_messages("jupyter-jovyan", running), seen, 0)
        assert [m["progress"] for m in first] == [10, 60] and furthest == 60
        waiting = _instance({"pods": {"notebook": {"state": "Provisioned"}},
                             "conditions": _conditions("False", reason="Waiting", message="waiting for a volume")})
        later, furthest = _new_progress(_progress_messages("jupyter-jovyan", waiting), seen, furthest)
        assert [(m["progress"], m["message"]) for m in later] == [(60, "waiting for a volume")]
        again, _ = _new_progress(_progress_messages("jupyter-jovyan", waiting), seen, furthest)
        assert again == []

    def test_a_policy_denial_becomes_a_sentence_for_the_user(self) -> None:
        message = ('creating Pod x: admission webhook "workloads.validate.jupyternetes.kadense.io" denied the '
                   "request: image evil/x is not on the allowlist")
        instance = _instance({"conditions": _conditions("False", "True", "False", "AdmissionDenied", message)})
        error = spawner()._failure(instance)
        assert error.jupyterhub_message.startswith("Your server could not start because a security policy refused it")
        assert "image evil/x is not on the allowlist" in error.jupyterhub_message


def test_state_round_trips() -> None:
    first = spawner(operator_public_key=PUBLIC_PEM)
    first.instance_name, first.instance_namespace = "jupyter-jovyan", "default"
    second = spawner(operator_public_key=PUBLIC_PEM)
    second.load_state(first.get_state())
    assert (second.instance_name, second.instance_namespace) == ("jupyter-jovyan", "default")
    second.clear_state()
    assert second.get_state() == {}


class TestOneReadForAClass:
    """A class pressing Start at once makes one read of the entitlements and one check of the hub's permissions,
    not one per student (each check is eight SelfSubjectAccessReviews)."""

    async def test_concurrent_callers_share_one_read_and_its_answer(self) -> None:
        calls = 0
        release = asyncio.Event()

        async def read() -> str:
            nonlocal calls
            calls += 1
            await release.wait()
            return "answer"

        waiting = [asyncio.create_task(JupyternetesSpawner._shared(("test", "one"), read)) for _ in range(50)]
        await asyncio.sleep(0)
        release.set()
        assert await asyncio.gather(*waiting) == ["answer"] * 50
        assert calls == 1
        assert await JupyternetesSpawner._shared(("test", "one"), read) == "answer"  # later: read again
        assert calls == 2

    async def test_an_error_reaches_every_caller_and_one_giving_up_does_not_stop_the_read(self) -> None:
        release = asyncio.Event()

        async def read() -> str:
            await release.wait()
            raise RuntimeError("refused")

        impatient = asyncio.create_task(JupyternetesSpawner._shared(("test", "two"), read))
        patient = asyncio.create_task(JupyternetesSpawner._shared(("test", "two"), read))
        await asyncio.sleep(0)
        impatient.cancel()
        release.set()
        with pytest.raises(RuntimeError, match="refused"):
            await patient
        assert ("test", "two") not in JupyternetesSpawner._inflight


class TestAskingAgain:
    """Which failures a start asks again (`api_retry_seconds`), and how long it waits: found by a review."""

    @pytest.mark.parametrize(("error", "again"), [
        (kube.Unreachable(0, "Unreachable", "POST /x: ServerDisconnectedError"), True),
        (kube.Unreachable(0, kube.UNTRUSTED, "POST /x: ClientConnectorCertificateError"), False),
        (kube.ApiError(429, "TooManyRequests", "too many requests"), True),
        (kube.ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request"), True),
        (kube.ApiError(500, "InternalError", 'Internal error occurred: failed calling webhook "x": connection '
                       "refused"), True),
        (kube.ApiError(500, "InternalError", 'admission webhook "x" denied the request: the Jupyternetes webhook '
                       "hit an internal error"), False),
        (kube.ApiError(503, "ServiceUnavailable", 'admission webhook "x" denied the request: the policy engine did '
                       "not answer"), True),
        (kube.Forbidden(403, "Forbidden", 'admission webhook "x" denied the request: image not allowed'), False),
        (kube.Conflict(409, "AlreadyExists", "exists"), False),
        (kube.ApiError(422, "Invalid", "spec.variables: invalid"), False),
    ], ids=["unreachable", "certificate refused", "429", "503", "webhook unreachable", "webhook internal error",
            "webhook undecided", "denied", "conflict", "invalid"])
    def test_only_what_may_pass_is_asked_again(self, error: kube.ApiError, again: bool) -> None:
        assert may_pass_if_asked_again(error) is again

    def test_the_pause_is_spread_and_at_least_what_a_429_asks(self) -> None:
        busy = kube.ApiError(503, "ServiceUnavailable", "busy")
        pauses = {round(retry_pause(busy, 4.0), 3) for _ in range(50)}
        assert len(pauses) > 10 and all(2.0 <= pause <= 4.0 for pause in pauses)
        asked = kube.ApiError(429, "TooManyRequests", "slow down", {"details": {"retryAfterSeconds": 7}})
        assert all(7.0 <= retry_pause(asked, 1.0) for _ in range(20))
        absurd = kube.ApiError(429, "TooManyRequests", "slow down", {"details": {"retryAfterSeconds": 10**9}})
        assert retry_pause(absurd, 1.0) == 300.0
        proxy = kube.ApiError(429, "TooManyRequests", "slow down", {"details": "not an object"})
        assert 0.5 <= retry_pause(proxy, 1.0) <= 1.0

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 301.0])
    def test_api_retry_seconds_outside_zero_to_300_is_refused_naming_it(self, value: float) -> None:
        with pytest.raises(TraitError, match=r"api_retry_seconds must be from 0 to 300 seconds"):
            spawner(api_retry_seconds=value)

    @pytest.mark.parametrize(("status", "outcome"), [
        ({"allowed": True}, True),
        ({"allowed": False}, False),
        ({"allowed": False, "denied": True}, False),
        ({"allowed": True, "evaluationError": "webhook authorizer: timeout"}, True),
        ({"allowed": False, "evaluationError": "webhook authorizer: timeout"}, privileges.Undecided),
        ({"allowed": False, "denied": True, "evaluationError": "webhook authorizer: timeout"}, False),
        (None, privileges.Undecided),
    ], ids=["allowed", "not allowed", "denied", "allowed despite an error", "undecided", "denied despite an error",
            "no answer"])
    async def test_an_access_review_an_authorizer_could_not_decide_is_no_finding(
        self, status: dict[str, Any] | None, outcome: bool | type[Exception]
    ) -> None:
        """A failed authorizer answers 201 with allowed false and an evaluationError: that is not "the hub may not",
        and must not pass `refuse_wide_rbac` (it is asked again, as the API server failing is)."""
        class Reviews:
            async def create(self, body: dict[str, Any]) -> dict[str, Any]:
                return {"kind": body["kind"], **({"status": status} if status is not None else {})}

        if isinstance(outcome, bool):
            assert await privileges._allowed(Reviews(), "jhub", "get", "secrets", "") is outcome  # type: ignore[arg-type]
        else:
            with pytest.raises(outcome) as undecided:
                await privileges._allowed(Reviews(), "jhub", "get", "secrets", "")  # type: ignore[arg-type]
            assert undecided.value.status == 503 and may_pass_if_asked_again(undecided.value)
