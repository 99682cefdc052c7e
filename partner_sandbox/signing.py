"""The sandbox's webhook signing identity: its own CA and a signing leaf, made with `cryptography`.

Partner Center signs each webhook event with a certificate that chains to a Microsoft root and
names it in `X-MS-Certificate-Url`; receivers download it, verify the chain and the certificate's
Organization, then verify `Authorization: Signature <base64>` (RSA-SHA256 over the raw body)
[docs] learn.microsoft.com partner-center/developer/partner-center-webhooks "How to authenticate
the callback". The sandbox cannot sign as Microsoft, so it makes a CA of its own (receivers under
test trust it through `Sandbox.webhook_ca_pem()` or `GET /_sandbox/webhooks/ca.pem`) and a leaf
whose subject O is `SandboxConfig.webhook_organization` ("Microsoft Corporation" by default, so
the receiver's Organization check runs for real).

Keys are made on first use (RSA 2048 takes tens of milliseconds; most sandboxes never sign).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

# The subject CN of Microsoft's dispatch certificate ([docs] X-MS-Certificate-Url's file name).
LEAF_COMMON_NAME = "pcnotifications-dispatch.microsoft.com"
CA_COMMON_NAME = "Referral Relay Sandbox Webhook Root"
_VALIDITY = datetime.timedelta(days=365)


class WebhookSigner:
    def __init__(self, organization: str, clock: Callable[[], float]) -> None:
        self._organization = organization
        self._clock = clock

    @cached_property
    def _ca(self) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._organization),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            ]
        )
        now = self._now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return key, cert

    @cached_property
    def _leaf(self) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        ca_key, ca_cert = self._ca
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = self._now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._organization),
                        x509.NameAttribute(NameOID.COMMON_NAME, LEAF_COMMON_NAME),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        return key, cert

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)

    def sign(self, body: bytes) -> str:
        """Base64 of RSA PKCS#1 v1.5 / SHA-256 over the raw body (what .NET's RSA provider
        `VerifyData(..., SHA256)` in Microsoft's sample checks)."""
        key, _ = self._leaf
        return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()

    def certificate_der(self) -> bytes:
        """The signing leaf as a `.cer` (DER), as Microsoft serves its dispatch certificate."""
        return self._leaf[1].public_bytes(serialization.Encoding.DER)

    def ca_pem(self) -> str:
        """The sandbox's root certificate (PEM): what a receiver under test trusts."""
        return self._ca[1].public_bytes(serialization.Encoding.PEM).decode()
