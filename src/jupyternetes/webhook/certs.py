"""TLS for the webhook: a self-managed CA and serving certificate, shared by every replica through one Secret, put
into the webhook configurations' caBundle, and rotated before expiry without dropping a request.

Rotation, in order: (1) a new CA and serving certificate are made and written to the Secret, with a bundle of the
new and the previous CA; (2) the bundle goes into both webhook configurations, so the API server trusts both; (3)
after a short pause for the API server to see the new bundle, every replica switches to the new serving certificate.
The previous CA stays in the bundle until the next rotation, so certificates from either side of the switch verify.
Certificates are swapped in the live TLS context: new connections get the new certificate, nothing restarts.

With certificates supplied from outside (cert-manager), the files are re-read when they change, and the caBundle is
left to whoever injects it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jupyternetes import kube, pki
from jupyternetes.webhook.settings import WebhookSettings

logger = logging.getLogger(__name__)

VALIDATING: Final = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]
MUTATING: Final = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")]
PROPAGATION_SECONDS: Final = 3.0


@dataclass(frozen=True)
class Material:
    """What the Secret holds."""

    ca: pki.KeyPair
    serving: pki.KeyPair
    bundle: bytes  # PEM: the current CA, then the previous one

    def to_secret_data(self) -> dict[str, str]:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()
        return {"ca.crt": b64(self.ca.cert_pem), "ca.key": b64(self.ca.key_pem), "tls.crt": b64(self.serving.cert_pem),
                "tls.key": b64(self.serving.key_pem), "ca-bundle.crt": b64(self.bundle)}

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> Material | None:
        try:
            raw = {k: base64.b64decode(v) for k, v in data.items()}
            return cls(pki.load(raw["ca.crt"], raw["ca.key"]), pki.load(raw["tls.crt"], raw["tls.key"]),
                       raw["ca-bundle.crt"])
        except (KeyError, ValueError):
            return None


def new_material(settings: WebhookSettings, previous: Material | None, validity: datetime.timedelta) -> Material:
    ca = pki.new_ca("jupyternetes-webhook-ca", valid_for=validity)
    host = f"{settings.service_name}.{settings.namespace}.svc"
    serving = pki.issue(ca, host, server=True, valid_for=validity,
                        dns_names=[settings.service_name, f"{settings.service_name}.{settings.namespace}", host,
                                   f"{host}.cluster.local", "localhost"],
                        ip_addresses=["127.0.0.1"])
    bundle = ca.cert_pem + (previous.ca.cert_pem if previous else b"")
    return Material(ca, serving, bundle)


#: Attempts at writing a webhook configuration that other replicas are writing too.
CONFLICT_ATTEMPTS: Final = 5


class CertificateManager:
    def __init__(self, api: kube.AsyncKube | None, settings: WebhookSettings) -> None:
        self.api = api
        self.settings = settings
        self.validity = datetime.timedelta(days=settings.certificate_days)
        self.rotate_before = datetime.timedelta(days=settings.rotate_before_days)
        self.context: ssl.SSLContext | None = None
        self.current: Material | None = None
        # The serving key exists as a file only while a TLS context loads it (ssl has no way to load a key from
        # memory): written to a private temporary directory, removed as soon as the context has it.
        self._files: tempfile.TemporaryDirectory[str] | None = None
        self._external_stamp: tuple[float, float] | None = None

    def _write_files(self, material: Material) -> tuple[Path, Path]:
        if self._files is None:
            self._files = tempfile.TemporaryDirectory(prefix="jupyternetes-webhook-tls-")
        cert_file, key_file = Path(self._files.name) / "tls.crt", Path(self._files.name) / "tls.key"
        cert_file.write_bytes(material.serving.cert_pem + material.ca.cert_pem)
        pki.write_private(key_file, material.serving.key_pem)
        return cert_file, key_file

    def discard_files(self) -> None:
        """Remove the certificate and key files, once whatever needed them has loaded them."""
        if self._files is not None:
            self._files.cleanup()
            self._files = None

    # Start-up ------------------------------------------------------------------------------------------------

    async def prepare(self) -> tuple[Path, Path]:
        """Certificate and key files to start serving with (self-managed: from the Secret, made if missing)."""
        if self.settings.tls_cert_file and self.settings.tls_key_file:
            self._external_stamp = self._stamp()
            return self.settings.tls_cert_file, self.settings.tls_key_file
        material = await self._load_or_create()
        self._use(material, load_context=False)
        await self._publish_bundle(material.bundle)
        return self._write_files(material)

    def attach(self, context: ssl.SSLContext) -> None:
        """The live TLS context that the server uses (it has loaded the files `prepare` wrote, which go now); later
        certificates are loaded into it."""
        self.context = context
        self.discard_files()

    # The loop ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_seconds)
            try:
                await self.check()
            except kube.ApiError as error:
                logger.warning("certificate check failed, will retry: %s", error)

    async def check(self) -> None:
        if self.settings.tls_cert_file:
            stamp = self._stamp()
            if stamp != self._external_stamp and self.context is not None:
                self.context.load_cert_chain(self.settings.tls_cert_file, self.settings.tls_key_file)
                self._external_stamp = stamp
                logger.info("reloaded the serving certificate from %s", self.settings.tls_cert_file)
            return
        material = await self._read_secret()
        if material is not None and self.current is not None and \
                material.serving.cert_pem != self.current.serving.cert_pem:
            logger.info("another replica rotated the certificate; switching")
            self._use(material)
            material = self.current
        if material is None:
            return
        # Keep the configurations' caBundle right even if something (a chart upgrade) has reset it.
        await self._publish_bundle(material.bundle)
        remaining = material.serving.not_after - datetime.datetime.now(datetime.UTC)
        if remaining <= self.rotate_before:
            await self.rotate(material)

    async def rotate(self, previous: Material) -> None:
        assert self.api is not None
        fresh = new_material(self.settings, previous, self.validity)
        secret = await self.api.get(kube.SECRET, self.settings.certificate_secret, self.settings.namespace)
        secret["data"] = fresh.to_secret_data()
        try:
            await self.api.replace(kube.SECRET, secret)
        except kube.Conflict:
            logger.info("another replica is rotating the certificate")
            return
        await self._publish_bundle(fresh.bundle)
        await asyncio.sleep(PROPAGATION_SECONDS)
        self._use(fresh)
        logger.info("rotated the webhook certificate; it is valid until %s", fresh.serving.not_after.isoformat())

    # Pieces --------------------------------------------------------------------------------------------------

    def _stamp(self) -> tuple[float, float]:
        assert self.settings.tls_cert_file and self.settings.tls_key_file
        return self.settings.tls_cert_file.stat().st_mtime, self.settings.tls_key_file.stat().st_mtime

    def _use(self, material: Material, load_context: bool = True) -> None:
        if load_context and self.context is not None:
            cert_file, key_file = self._write_files(material)
            try:
                self.context.load_cert_chain(cert_file, key_file)
            finally:
                self.discard_files()
        self.current = material

    async def _read_secret(self) -> Material | None:
        assert self.api is not None
        try:
            secret = await self.api.get(kube.SECRET, self.settings.certificate_secret, self.settings.namespace)
        except kube.NotFound:
            return None
        return Material.from_secret_data(secret.get("data") or {})

    async def _load_or_create(self) -> Material:
        assert self.api is not None
        try:
            secret = await self.api.get(kube.SECRET, self.settings.certificate_secret, self.settings.namespace)
        except kube.NotFound:
            raise RuntimeError(
                f"the Secret {self.settings.namespace}/{self.settings.certificate_secret} does not exist; the chart "
                "(or `jupyternetes dev up`) creates it empty, and the webhook fills it in") from None
        material = Material.from_secret_data(secret.get("data") or {})
        remaining = (material.serving.not_after - datetime.datetime.now(datetime.UTC) if material is not None
                     else datetime.timedelta(0))
        if material is not None and remaining > self.rotate_before:
            return material
        # Missing, expired, or due for rotation: a certificate that expires before the first check (every
        # check_interval_seconds) would fail every review in between, so it is replaced before serving starts (keeping
        # the CA while it is valid, as a rotation does).
        fresh = new_material(self.settings, material if remaining > datetime.timedelta(0) else None, self.validity)
        secret["data"] = fresh.to_secret_data()
        try:
            await self.api.replace(kube.SECRET, secret)
            logger.info("created a new webhook CA and serving certificate")
            return fresh
        except kube.Conflict:
            again = await self._read_secret()
            if again is None:
                raise
            return again

    async def _publish_bundle(self, bundle: bytes) -> None:
        """Put `bundle` into every webhook of both configurations (updates by name only, per RBAC)."""
        if not self.settings.manage_configurations or self.api is None:
            return
        encoded = base64.b64encode(bundle).decode()
        for rt in (VALIDATING, MUTATING):
            # Replicas start together and write the same configuration: on a conflict, read it again and retry.
            for _attempt in range(CONFLICT_ATTEMPTS):
                try:
                    configuration = await self.api.get(rt, self.settings.configuration_name)
                except kube.NotFound:
                    logger.error("webhook configuration %s/%s does not exist; the API server cannot call this "
                                 "webhook", rt.kind, self.settings.configuration_name)
                    break
                changed = False
                for webhook in configuration.get("webhooks") or []:
                    client: dict[str, Any] = webhook.setdefault("clientConfig", {})
                    if client.get("caBundle") != encoded:
                        client["caBundle"] = encoded
                        changed = True
                if not changed:
                    break
                try:
                    await self.api.replace(rt, configuration)
                    break
                except kube.Conflict:
                    logger.info("%s %s changed while it was being updated; reading it again", rt.kind,
                                self.settings.configuration_name)
            else:
                raise kube.Conflict(409, "Conflict", f"{rt.kind} {self.settings.configuration_name} kept changing; "
                                    f"its caBundle was not written after {CONFLICT_ATTEMPTS} attempts")

