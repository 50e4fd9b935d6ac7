"""Certificate-bound access tokens (RFC 8705), through real nginx with the template's recipe on
(`ssl_verify_client optional_no_ca;`, the client's certificate passed as SSL_CLIENT_CERT;
docs/cors-and-mtls.md): two self-signed client certificates, a token whose
`cnf.x5t#S256` names certificate A (RFC 8705 §3.1), minted by the provider as Keycloak issues
it. Certificate A passes; certificate B, or none, is refused as an invalid token; a token
without `x5t#S256` ignores the certificate. The same at /auth and through the auth_request gate.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.gate import GateStack
from harness.idp_fixture import IdentityProvider
from harness.sample_upstream import SampleUpstream
from harness.stack import SessionRecord, Stack

INVALID_TOKEN = 'Bearer error="invalid_token"'
INVALID_CREDENTIALS = {"detail": "Could not validate credentials"}


class ClientCertificate:
    """A self-signed client certificate (P-256) and its key, as PEM files in `directory`."""

    def __init__(self, directory: Path, name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        self.cert_file, self.key_file = directory / f"{name}.crt", directory / f"{name}.key"
        self.cert_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        self.key_file.chmod(0o600)

    @property
    def thumbprint(self) -> str:
        """`x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER (RFC 8705 §3.1)."""
        digest = hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> tuple[ClientCertificate, ClientCertificate]:
    directory = tmp_path_factory.mktemp("client-certificates")
    return ClientCertificate(directory, "client-a"), ClientCertificate(directory, "client-b")


@pytest.fixture(scope="module")
def idp():
    with IdentityProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def stack(idp, tmp_path_factory, tls_dir):
    with Stack(tmp_path_factory.mktemp("mtls"), tls_dir, idp=idp, client_certificates=True) as started:
        yield started


def minted(idp: IdentityProvider, thumbprint: str | None) -> str:
    """An access token of abdullah, bound to the certificate of `thumbprint` (unbound: None)."""
    token = idp.mint(claims={} if thumbprint is None else {"cnf": {"x5t#S256": thumbprint}})
    SessionRecord.remember(token)
    return token


def call(url: str, token: str, certificate: ClientCertificate | None, ca: Path) -> requests.Response:
    """GET `url` with the token as Bearer, over a new connection presenting `certificate` (or
    none): one session per call, so no TLS session or connection of another certificate is reused."""
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(ca)
        if certificate is not None:
            session.cert = (str(certificate.cert_file), str(certificate.key_file))
        return session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def resource_metadata(port: int) -> str:
    """The `/auth` challenge's resource_metadata: derived from the request's scheme and Host."""
    return f"https://localhost:{port}/.well-known/oauth-protected-resource"


def refused_as_invalid_token(answer: requests.Response, challenge: str = INVALID_TOKEN) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json() == INVALID_CREDENTIALS
    assert answer.raw.headers.getlist("WWW-Authenticate") == [challenge]


# --- /protected ------------------------------------------------------------------------------------


def test_the_bound_certificate_passes(stack, idp, certificates, tls_dir):
    a, _ = certificates
    answer = call(stack.url("/protected"), minted(idp, a.thumbprint), a, tls_dir / "ca.crt")
    assert answer.status_code == 200, answer.text
    assert answer.json()["preferred_username"] == "abdullah"


def test_another_certificate_is_refused(stack, idp, certificates, tls_dir):
    a, b = certificates
    refused_as_invalid_token(call(stack.url("/protected"), minted(idp, a.thumbprint), b, tls_dir / "ca.crt"))


def test_no_certificate_is_refused(stack, idp, certificates, tls_dir):
    a, _ = certificates
    refused_as_invalid_token(call(stack.url("/protected"), minted(idp, a.thumbprint), None, tls_dir / "ca.crt"))


@pytest.mark.parametrize("which", ["a", "b", None])
def test_an_unbound_token_ignores_the_certificate(stack, idp, certificates, tls_dir, which):
    certificate = {"a": certificates[0], "b": certificates[1], None: None}[which]
    answer = call(stack.url("/protected"), minted(idp, None), certificate, tls_dir / "ca.crt")
    assert answer.status_code == 200, answer.text


def test_a_thumbprint_of_other_bytes_is_refused(stack, idp, certificates, tls_dir):
    """The thumbprint is of the DER, base64url: the hex form or the PEM's hash never match."""
    a, _ = certificates
    der = a.certificate.public_bytes(serialization.Encoding.DER)
    pem = a.certificate.public_bytes(serialization.Encoding.PEM)
    for thumbprint in (hashlib.sha256(der).hexdigest(),
                       base64.urlsafe_b64encode(hashlib.sha256(pem).digest()).rstrip(b"=").decode()):
        refused_as_invalid_token(call(stack.url("/protected"), minted(idp, thumbprint), a, tls_dir / "ca.crt"))


def test_clients_without_certificates_still_connect(stack):
    """`optional_no_ca`: nginx asks, never requires; the API works as before without one."""
    assert stack.get("/").status_code == 200
    assert stack.protected().status_code == 401


def test_without_the_recipe_a_bound_token_is_refused(idp, certificates, make_stack, tls_dir):
    """nginx does not ask for a certificate (the template's default): the responder never gets
    one, so a bound token cannot pass (an unbound one still does)."""
    a, _ = certificates
    plain = make_stack(idp)
    refused_as_invalid_token(call(plain.url("/protected"), minted(idp, a.thumbprint), a, tls_dir / "ca.crt"))
    assert call(plain.url("/protected"), minted(idp, None), a, tls_dir / "ca.crt").status_code == 200


# --- /auth and the auth_request gate -------------------------------------------------------------------


def test_auth_checks_the_certificate_too(stack, idp, certificates, tls_dir):
    a, b = certificates
    token = minted(idp, a.thumbprint)
    assert call(stack.url("/auth"), token, a, tls_dir / "ca.crt").status_code == 204
    challenge = f'{INVALID_TOKEN}, resource_metadata="{resource_metadata(stack.https_port)}"'
    refused_as_invalid_token(call(stack.url("/auth"), token, b, tls_dir / "ca.crt"), challenge)
    refused_as_invalid_token(call(stack.url("/auth"), token, None, tls_dir / "ca.crt"), challenge)


@pytest.fixture(scope="module")
def gate(idp, tmp_path_factory, tls_dir):
    with SampleUpstream() as upstream:
        stack = GateStack(tmp_path_factory.mktemp("mtls-gate"), tls_dir, idp=idp, upstream_address=upstream.address,
                          client_certificates=True)
        stack.upstream = upstream
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def test_the_gate_passes_the_certificate_to_its_check(gate, idp, certificates, tls_dir):
    a, b = certificates
    token = minted(idp, a.thumbprint)
    hits = gate.upstream.hits
    passed = call(gate.gate_tls_url("/api/things"), token, a, tls_dir / "ca.crt")
    assert passed.status_code == 200, passed.text
    assert passed.json()["x_auth"]["x-auth-username"] == ["abdullah"]
    assert gate.upstream.hits == hits + 1
    challenge = f'{INVALID_TOKEN}, resource_metadata="{resource_metadata(gate.gate_tls_port)}"'
    for certificate in (b, None):
        answer = call(gate.gate_tls_url("/api/things"), token, certificate, tls_dir / "ca.crt")
        refused_as_invalid_token(answer, challenge)
    assert gate.upstream.hits == hits + 1
    assert call(gate.gate_tls_url("/api/things"), minted(idp, None), b, tls_dir / "ca.crt").status_code == 200
