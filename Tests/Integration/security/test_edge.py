"""What nginx and the process add around the handlers: the article's curl walk-through verbatim,
HTTPS only (redirect, TLS 1.2/1.3, HSTS, HTTP/2), the Swagger page, rate limiting, configuration
checking, and logs that never carry secrets."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess

import pytest

from harness.stack import binary_path


@pytest.fixture(scope="module")
def stack(shared_idp, tmp_path_factory, tls_dir):
    from harness.stack import Stack
    stack = Stack(tmp_path_factory.mktemp("edge"), tls_dir, idp=shared_idp).start()
    yield stack
    stack.stop()


def curl(stack, command: str) -> subprocess.CompletedProcess[str]:
    """Runs an article command with the port substituted; the dev CA comes from CURL_CA_BUNDLE."""
    command = command.replace("https://localhost:8443", f"https://localhost:{stack.https_port}")
    env = dict(os.environ, CURL_CA_BUNDLE=str(stack.tls_dir / "ca.crt"))
    return subprocess.run(["bash", "-c", command + " -s -w '\\n%{http_code}'"], capture_output=True, text=True,
                          env=env, timeout=30)


def test_the_articles_curl_walkthrough_verbatim(stack):
    first = curl(stack, "curl -X GET https://localhost:8443/protected")
    assert first.stdout.splitlines() == ['{"detail":"Not authenticated"}', "401"]

    login = curl(stack, 'curl -X POST https://localhost:8443/login \\\n'
                        '  -H "Content-Type: application/x-www-form-urlencoded" \\\n'
                        '  -d "username=abdullah&password=Test#123456"')
    body, status = login.stdout.splitlines()
    assert status == "200", login.stdout
    token = re.fullmatch(r'\{"access_token":"([^"]+)","token_type":"bearer".*\}', body).group(1)

    user = curl(stack, f'curl -X GET https://localhost:8443/protected -H "Authorization: Bearer {token}"')
    body, status = user.stdout.splitlines()
    assert status == "200"
    assert body.startswith('{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani",')

    failed = curl(stack, 'curl -X POST https://localhost:8443/login \\\n'
                         '  -H "Content-Type: application/x-www-form-urlencoded" \\\n'
                         '  -d "username=abdullah&password=abdullah"')
    assert failed.stdout.splitlines() == ['{"detail":"Invalid username or password"}', "401"]


def test_plain_http_redirects_to_https(stack):
    import requests
    answer = requests.post(f"http://127.0.0.1:{stack.http_port}/login?x=1", allow_redirects=False, timeout=10)
    assert answer.status_code == 308
    assert answer.headers["Location"] == f"https://127.0.0.1:{stack.https_port}/login?x=1"


def tls_handshake(port: int, version: ssl.TLSVersion) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = version
    context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_only_tls_1_2_and_1_3_are_offered(stack):
    assert tls_handshake(stack.https_port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert tls_handshake(stack.https_port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            tls_handshake(stack.https_port, old)


def test_http2_and_security_headers(stack):
    result = subprocess.run(
        ["curl", "-sS", "--http2", "-o", "/dev/null", "-D", "-", "--cacert", str(stack.tls_dir / "ca.crt"),
         stack.url("/")], capture_output=True, text=True, timeout=30)
    head = result.stdout.lower()
    assert head.startswith("http/2 200")
    assert "strict-transport-security: max-age=63072000" in head
    assert "x-content-type-options: nosniff" in head


def test_swagger_page_and_openapi_document_are_served(stack):
    page = stack.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for asset in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text):
        assert stack.get(asset).status_code == 200, asset
    document = stack.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")
    assert stack.get("/docs/").status_code == 200
    missing = stack.get("/docs/nothing-here.js")
    assert missing.status_code == 404 and missing.content == b'{"detail":"Not Found"}'


def test_login_rate_limit_answers_429_json_without_calling_the_provider(make_idp, make_stack):
    idp = make_idp()
    limited = make_stack(idp, login_rate="1r/m", login_burst=2)
    idp.reset_stats()
    statuses = [limited.login("abdullah", "wrong").status_code for _ in range(6)]
    assert statuses[:3] == [401, 401, 401]  # one at the rate plus a burst of two
    assert statuses[3:] == [429, 429, 429]
    refused = limited.login("abdullah", "wrong")
    assert refused.content == b'{"detail":"Too many requests"}'
    assert refused.headers["Content-Type"] == "application/json"
    assert idp.stats()["token"] == 3


def run_check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary_path()), "--check-config", "--env-file", "/dev/null"], capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"], **env}, timeout=30)


def test_check_config_names_every_problem_in_one_message():
    result = run_check_config({"FCGI_WORKERS": "0", "AUTH_VERIFY": "maybe"})
    assert result.returncode == 78
    message = result.stderr
    assert message.count("\n") == 1, message
    for key in ("KEYCLOAK_SERVER_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET",
                "FCGI_WORKERS", "AUTH_VERIFY"):
        assert key in message


def test_check_config_prints_the_configuration_without_the_secret(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("super-secret-value\n")
    result = run_check_config({"KEYCLOAK_SERVER_URL": "https://sso.example.com/auth/", "KEYCLOAK_REALM": "testing",
                               "KEYCLOAK_CLIENT_ID": "fastapi-keycloak",
                               "KEYCLOAK_CLIENT_SECRET_FILE": str(secret_file)})
    assert result.returncode == 0, result.stderr
    assert "super-secret-value" not in result.stdout + result.stderr
    assert "KEYCLOAK_CLIENT_SECRET=<redacted>" in result.stdout
    assert "https://sso.example.com/auth/realms/testing | https://sso.example.com/realms/testing" in result.stdout
    assert result.stdout.strip().endswith("configuration OK")


def test_dot_env_is_read_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("KEYCLOAK_SERVER_URL=http://from-dotenv:8080\nKEYCLOAK_REALM=testing\n"
                                   "KEYCLOAK_CLIENT_ID=from-dotenv\nKEYCLOAK_CLIENT_SECRET=abc#123\n")
    result = subprocess.run([str(binary_path()), "--check-config"], capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": os.environ["PATH"], "KEYCLOAK_CLIENT_ID": "from-environment"}, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "KEYCLOAK_CLIENT_ID=from-environment" in result.stdout
    assert "http://from-dotenv:8080/realms/testing" in result.stdout


def test_logs_never_carry_secrets_passwords_or_tokens(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"LOG_LEVEL": "trace"})
    login = stack.login("alice", "p&ss+w%rd é#1").json()
    stack.protected(login["access_token"])
    stack.protected("not.a.token")
    stack.login("abdullah", "Wrong#Password")
    stack.stop()
    logs = stack.responder_log() + stack.nginx_logs()
    for secret in (idp.client_secret, "p&ss+w%rd", "Wrong#Password", login["access_token"],
                   login["access_token"].split(".")[2], login["refresh_token"], "Bearer "):
        assert secret not in logs, secret
    # The requests were logged (one line each), just without the secrets.
    assert re.search(r"http\.method=POST http\.path=/login http\.status=200 ", logs), logs
    assert re.search(r"http\.method=GET http\.path=/protected http\.status=401 ", logs), logs


@pytest.mark.parametrize("http_version", ["--http1.1", "--http2"])
def test_oversized_tokens_get_the_responders_json_401(stack, http_version):
    # 20 KiB and 60 KiB Authorization headers pass nginx and are refused by the responder.
    for size in (20_000, 60_000):
        result = subprocess.run(
            ["curl", "-sS", http_version, "--cacert", str(stack.tls_dir / "ca.crt"), "-w", "\\n%{http_code}",
             "-H", "Authorization: Bearer " + "a" * size, stack.url("/protected")],
            capture_output=True, text=True, timeout=30)
        assert result.stdout.splitlines() == ['{"detail":"Could not validate credentials"}', "401"], size
