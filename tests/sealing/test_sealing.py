"""Sealed variables open only with the operator's key, for the whole instance and the variable they were sealed for."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyternetes import models, sealing

KEY = sealing.new_private_key()
PUBLIC = sealing.load_public_key(sealing.public_key_pem(KEY))
INSTANCE = {"namespace": "default", "instance": "jupyter-jovyan", "template_name": "jupyter-notebook",
            "template_namespace": "kadense", "variables": {"jupyterhub.user.name": "jovyan", "course": "stats101"}}
BINDING = {"bound_to": sealing.binding(**INSTANCE), "variable": "jupyterhub.api_token"}


@settings(max_examples=50, deadline=None)
@given(value=st.text())
def test_a_sealed_value_opens_to_itself(value: str) -> None:
    assert sealing.open_sealed(KEY, sealing.seal(PUBLIC, value, **BINDING), **BINDING) == value


def test_sealing_twice_gives_different_ciphertexts() -> None:
    assert sealing.seal(PUBLIC, "t0k", **BINDING) != sealing.seal(PUBLIC, "t0k", **BINDING)


def test_the_plain_value_is_not_in_the_sealed_one() -> None:
    sealed = sealing.seal(PUBLIC, "852dc4bd4e4e4360b7ae94cffa4f1c76", **BINDING)
    assert "852dc4bd" not in sealed
    assert b"852dc4bd" not in base64.b64decode(sealed)


@pytest.mark.parametrize("other", [
    {"namespace": "staff"}, {"instance": "jupyter-mallory"}, {"template_name": "gpu-notebook"},
    {"template_namespace": "default"},
    {"variables": {"jupyterhub.user.name": "jovyan", "course": "stats102"}},
    {"variables": {"jupyterhub.user.name": "jovyan"}},
    {"variables": {"jupyterhub.user.name": "jovyan", "course": "stats101", "image": "x"}},
], ids=lambda other: next(iter(other)))
def test_a_sealed_value_does_not_open_for_an_instance_that_differs_in_anything(other: dict[str, object]) -> None:
    sealed = sealing.seal(PUBLIC, "t0k", **BINDING)
    with pytest.raises(sealing.SealingError, match="does not open"):
        sealing.open_sealed(KEY, sealed, bound_to=sealing.binding(**{**INSTANCE, **other}),  # type: ignore[arg-type]
                            variable=BINDING["variable"])


def test_a_sealed_value_does_not_open_as_another_variable() -> None:
    sealed = sealing.seal(PUBLIC, "t0k", **BINDING)
    with pytest.raises(sealing.SealingError, match="does not open"):
        sealing.open_sealed(KEY, sealed, bound_to=BINDING["bound_to"], variable="jupyterhub.env.JPY_API_TOKEN")


def test_the_binding_does_not_depend_on_variable_order_or_on_an_implicit_template_namespace() -> None:
    variables: dict[str, str] = INSTANCE["variables"]  # type: ignore[assignment]
    reordered = {**INSTANCE, "variables": dict(reversed(list(variables.items())))}
    assert sealing.binding(**reordered) == sealing.binding(**INSTANCE)  # type: ignore[arg-type]
    own = {**INSTANCE, "template_namespace": ""}
    implicit = {**INSTANCE, "template_namespace": "default"}
    assert sealing.binding(**own) == sealing.binding(**implicit)  # type: ignore[arg-type]


def test_an_instance_opens_what_was_sealed_for_it_and_nothing_else() -> None:
    body = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": "jupyter-jovyan", "namespace": "default"},
            "spec": {"template": {"name": "jupyter-notebook", "namespace": "kadense"},
                     "variables": INSTANCE["variables"],
                     "sealedVariables": sealing.seal_instance(PUBLIC, {"jupyterhub.api_token": "t0k"},
                                                              bound_to=BINDING["bound_to"])}}
    assert sealing.open_instance(KEY, models.parse_instance(body)) == {"jupyterhub.api_token": "t0k"}
    body["spec"]["variables"] = {**INSTANCE["variables"], "course": "other"}  # type: ignore[dict-item]
    with pytest.raises(sealing.SealingError, match="default/jupyter-jovyan"):
        sealing.open_instance(KEY, models.parse_instance(body))


def test_a_value_sealed_in_the_old_format_is_refused_with_what_to_do() -> None:
    old = base64.b64encode(b"\x01" + bytes(100)).decode()
    with pytest.raises(sealing.SealingError, match="start it again"):
        sealing.open_sealed(KEY, old, **BINDING)


def test_another_key_cannot_open_it() -> None:
    sealed = sealing.seal(PUBLIC, "t0k", **BINDING)
    with pytest.raises(sealing.SealingError, match="does not open"):
        sealing.open_sealed(sealing.new_private_key(), sealed, **BINDING)


def test_tampering_is_detected() -> None:
    blob = bytearray(base64.b64decode(sealing.seal(PUBLIC, "t0k", **BINDING)))
    blob[-1] ^= 1
    with pytest.raises(sealing.SealingError, match="does not open with the operator's key"):
        sealing.open_sealed(KEY, base64.b64encode(bytes(blob)).decode(), **BINDING)


@pytest.mark.parametrize("garbage", ["not base64!", base64.b64encode(b"\x02" + bytes(80)).decode(),
                                     base64.b64encode(b"\x07" + bytes(120)).decode(), ""])
def test_garbage_is_refused_with_the_variable_named(garbage: str) -> None:
    with pytest.raises(sealing.SealingError, match="jupyterhub.api_token"):
        sealing.open_sealed(KEY, garbage, **BINDING)


def test_keys_round_trip_through_pem() -> None:
    again = sealing.load_private_key(sealing.private_key_pem(KEY))
    assert sealing.public_key_pem(again) == sealing.public_key_pem(KEY)
    from cryptography.hazmat.primitives.asymmetric import ec

    other_curve = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        sealing.load_public_key(sealing.public_key_pem(other_curve))  # type: ignore[arg-type]


def test_a_key_generated_like_helm_genprivatekey_ecdsa_works() -> None:
    from cryptography.hazmat.primitives import serialization

    sec1 = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    helm_style = sealing.load_private_key(sec1)
    sealed = sealing.seal(PUBLIC, "t0k", **BINDING)
    assert sealing.open_sealed(helm_style, sealed, **BINDING) == "t0k"
