"""App credentials: secret, PEM certificate (key + certificate in one PEM), federated assertion."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from shared.auth.app_credentials import (
    FEDERATION_SCOPE,
    ManagedIdentityAssertion,
    certificate_credential,
    client_credential,
)
from shared.auth.errors import TokenServiceUnavailable
from shared.settings import Settings, SettingsError

BASE_ENV = {
    "RELAY_PARTNER_TENANT_ID": "contoso.onmicrosoft.com",
    "RELAY_PARTNER_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "RELAY_REFRESH_TOKEN_STORE": "file:///tmp/rt",
}


def key_and_cert() -> tuple[rsa.RSAPrivateKey, str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "referral-relay-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return key, key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def spki(public_key: object) -> bytes:
    der: bytes = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def test_a_secret_is_passed_as_is() -> None:
    settings = Settings.from_env(
        {**BASE_ENV, "RELAY_APP_CREDENTIAL": "secret", "RELAY_CLIENT_SECRET": "s3cret-value"}
    )

    assert client_credential(settings) == "s3cret-value"


def test_a_pem_with_key_and_certificate_becomes_msals_certificate_credential() -> None:
    _, key_pem, cert_pem = key_and_cert()
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "RELAY_APP_CREDENTIAL": "certificate",
            "RELAY_CLIENT_CERTIFICATE_PEM": cert_pem + key_pem,  # either order works
        }
    )

    credential = client_credential(settings)

    assert isinstance(credential, dict)
    assert credential["public_certificate"] == cert_pem
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    reloaded = serialization.load_pem_private_key(credential["private_key"].encode(), None)
    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    assert spki(reloaded.public_key()) == spki(certificate.public_key())


def test_the_matching_certificate_is_picked_from_a_chain() -> None:
    _, key_pem, cert_pem = key_and_cert()
    _, _, other_cert = key_and_cert()

    credential = certificate_credential(other_cert + key_pem + cert_pem)

    assert credential["public_certificate"] == cert_pem


@pytest.mark.parametrize(
    ("make_pem", "problem"),
    [
        (lambda k, c, o: c, "no PEM private key found"),
        (lambda k, c, o: k, "no PEM certificate found"),
        (lambda k, c, o: k + o, "no certificate matches the private key"),
        (lambda k, c, o: "garbage", "no PEM private key found"),
    ],
)
def test_a_bad_pem_names_the_variable_and_never_its_content(
    make_pem: Callable[[str, str, str], str], problem: str
) -> None:
    _, key_pem, cert_pem = key_and_cert()
    _, _, other = key_and_cert()

    with pytest.raises(SettingsError) as caught:
        certificate_credential(make_pem(key_pem, cert_pem, other))

    assert caught.value.problems == [("RELAY_CLIENT_CERTIFICATE_PEM", problem)]
    assert "BEGIN" not in str(caught.value)


def test_an_encrypted_key_is_refused_with_advice() -> None:
    key, _, cert_pem = key_and_cert()
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()

    with pytest.raises(SettingsError, match="encrypted"):
        certificate_credential(encrypted + cert_pem)


@dataclass
class FakeManagedIdentity:
    scopes: list[tuple[str, ...]] = field(default_factory=list)
    fail: bool = False

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        if self.fail:
            raise RuntimeError("IMDS unreachable")
        return AccessToken("federation-assertion-jwt", 2_000_000_000)


def test_federated_credential_is_a_client_assertion_from_the_managed_identity() -> None:
    settings = Settings.from_env({**BASE_ENV, "AZURE_CLIENT_ID": "mi-client-id"})
    identity = FakeManagedIdentity()

    credential = client_credential(settings, managed_identity=identity)

    assert isinstance(credential, dict)
    assertion = credential["client_assertion"]
    assert assertion() == "federation-assertion-jwt"
    assert identity.scopes == [(FEDERATION_SCOPE,)]


class FakeIdentityEndpoint(BaseHTTPRequestHandler):
    """The App Service managed identity endpoint, answering every request with a token."""

    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        FakeIdentityEndpoint.seen.append(parse_qs(urlsplit(self.path).query))
        body = json.dumps(
            {
                "access_token": "federation-assertion-from-imds",
                "expires_on": str(int(time.time()) + 3600),
                "resource": "api://AzureADTokenExchange",
                "token_type": "Bearer",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, list[str]]]]:
    server = HTTPServer(("127.0.0.1", 0), FakeIdentityEndpoint)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{server.server_port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "header-secret")
    FakeIdentityEndpoint.seen.clear()
    yield FakeIdentityEndpoint.seen
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_real_federated_credential_asks_the_user_assigned_identity(
    identity_endpoint: list[dict[str, list[str]]],
) -> None:
    settings = Settings.from_env({**BASE_ENV, "AZURE_CLIENT_ID": "mi-client-id"})

    credential = client_credential(settings)

    assert isinstance(credential, dict)
    assertion = credential["client_assertion"]
    assert isinstance(assertion, ManagedIdentityAssertion)
    assert assertion._credential is None  # azure-identity is loaded on first use only
    assert assertion() == "federation-assertion-from-imds"
    assert assertion() == "federation-assertion-from-imds"  # cached by azure-identity
    (query,) = identity_endpoint
    assert query["resource"] == ["api://AzureADTokenExchange"]
    assert query["client_id"] == ["mi-client-id"]


def test_a_managed_identity_failure_is_a_transient_token_error() -> None:
    assertion = ManagedIdentityAssertion(FakeManagedIdentity(fail=True))

    with pytest.raises(TokenServiceUnavailable, match="RuntimeError"):
        assertion()
