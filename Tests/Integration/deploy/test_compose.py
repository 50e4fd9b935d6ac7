"""The Docker deployment's Compose file, through Debian's docker-compose (`config`): services,
secrets, the Keycloak entrypoint wrapper and health check (run against stand-ins), and the
realm file against the facts of Keycloak's import.

No image is built and no container runs here (the machines have only a Docker client): every
piece that can be exercised on its own is. The tools and `docker-compose config` are
deploy/conftest.py's fixtures; reading the files is harness/deploy_files.py.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from harness import REPO_ROOT as REPO
from harness.deploy_files import CLIENT_SECRET_PATH, REALM_FILE, compose_config


def test_compose_file_is_valid(docker_compose, tmp_path):
    result = compose_config(docker_compose, tmp_path, None, "-q")
    assert result.returncode == 0, result.stderr


def test_compose_services(config):
    services = config["services"]
    assert set(services) == {"keycloak", "app", "nginx"}

    app = services["app"]
    assert "container_name" not in app, "a container_name makes `--scale app=3` impossible"
    assert not app.get("ports"), "the responder must not be published"
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert Path(app["build"]["context"]).resolve() == REPO
    assert app["depends_on"]["keycloak"]["condition"] == "service_healthy"
    assert app.get("restart") in {"unless-stopped", "always"}
    environment = app["environment"]
    assert environment["KEYCLOAK_SERVER_URL"] == "http://keycloak:8080"
    assert environment["KEYCLOAK_REALM"] == "testing"
    assert environment["KEYCLOAK_CLIENT_ID"] == "fastapi-keycloak"
    assert environment["KEYCLOAK_CLIENT_SECRET_FILE"] == CLIENT_SECRET_PATH
    assert "KEYCLOAK_CLIENT_SECRET" not in environment, "the secret travels as a file only"
    assert environment["LOG_FORMAT"] == "json"

    nginx = services["nginx"]
    assert nginx["build"]["dockerfile"] == "deploy/nginx/Dockerfile"
    assert Path(nginx["build"]["context"]).resolve() == REPO
    assert nginx["depends_on"]["app"]["condition"] == "service_healthy"
    assert nginx.get("restart") in {"unless-stopped", "always"}
    assert "healthcheck" in nginx
    published = {(int(port["published"]), int(port["target"])) for port in nginx["ports"]}
    assert published == {(8443, 443), (8000, 80)}, "8081 (internal listener) must stay unpublished"
    assert nginx["environment"]["PUBLIC_HTTPS_PORT"] == "8443"

    keycloak = services["keycloak"]
    assert re.fullmatch(r"quay\.io/keycloak/keycloak:26(\.\d+)*", keycloak["image"])
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    assert keycloak["environment"]["KC_HEALTH_ENABLED"] == "true"
    assert keycloak["environment"]["KC_HOSTNAME"] == "http://keycloak:8080"
    # Keycloak 26.6 dev mode binds localhost only unless told otherwise.
    assert keycloak["environment"]["KC_HTTP_HOST"] == "0.0.0.0"
    for name in ("KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD", "DEMO_USER_PASSWORD"):
        assert keycloak["environment"][name], name
    assert keycloak["ports"] == ["127.0.0.1:8080:8080/tcp"], "Keycloak only on the host's loopback"
    mounts = keycloak["volumes"]
    realm_mount = f"{REALM_FILE}:/opt/keycloak/data/import/realm-testing.json:ro"
    assert realm_mount in mounts
    probe = " ".join(keycloak["healthcheck"]["test"])
    assert "/dev/tcp/127.0.0.1/9000" in probe and "GET /health/ready " in probe
    assert "start_period" in keycloak["healthcheck"]


def test_compose_secret_reaches_app_and_keycloak(config):
    secret = config["secrets"]["keycloak_client_secret"]
    secret_file = Path(secret["file"])
    assert secret_file == REPO / "deploy" / "dev-secrets" / "keycloak_client_secret"
    assert secret_file.read_text().strip(), "the development secret file is empty"
    for name in ("app", "keycloak"):
        sources = [entry["source"] if isinstance(entry, dict) else entry
                   for entry in config["services"][name]["secrets"]]
        assert sources == ["keycloak_client_secret"], name
    # Keycloak's realm import reads the same value from KEYCLOAK_CLIENT_SECRET: the entrypoint
    # wrapper loads it from the secret file and runs kc.sh with `command`.
    script = config["services"]["keycloak"]["entrypoint"][2].replace("$$", "$")
    assert f'KEYCLOAK_CLIENT_SECRET="$(< {CLIENT_SECRET_PATH})"' in script
    assert "export KEYCLOAK_CLIENT_SECRET" in script
    assert script.endswith('exec /opt/keycloak/bin/kc.sh "$@"')
    assert "${KEYCLOAK_CLIENT_SECRET}" in REALM_FILE.read_text()


def test_compose_secret_file_can_be_replaced(docker_compose, yaml_module, tmp_path):
    own = tmp_path / "client_secret"
    own.write_text("0123abcd\n")
    result = compose_config(docker_compose, tmp_path, {"KEYCLOAK_FCGI_CLIENT_SECRET_FILE": str(own)})
    assert result.returncode == 0, result.stderr
    assert yaml_module.safe_load(result.stdout)["secrets"]["keycloak_client_secret"]["file"] == str(own)


def test_keycloak_entrypoint_exports_the_secret_and_runs_the_command(config, tmp_path):
    """The wrapper, run by bash with a stand-in kc.sh: the secret arrives without its newline."""
    entrypoint = config["services"]["keycloak"]["entrypoint"]
    assert entrypoint[:2] == ["/bin/bash", "-c"]
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    fake_kc = tmp_path / "kc.sh"
    fake_kc.write_text('#!/bin/bash\nprintf "%s|%s" "$KEYCLOAK_CLIENT_SECRET" "$*"\n')
    fake_kc.chmod(0o755)
    script = (entrypoint[2].replace("$$", "$").replace(CLIENT_SECRET_PATH, str(secret))
              .replace("/opt/keycloak/bin/kc.sh", str(fake_kc)))
    command = config["services"]["keycloak"]["command"]
    environment = {"PATH": os.environ["PATH"], "DEMO_USER_PASSWORD": "Test#123456"}
    result = subprocess.run(["bash", "-c", script, *entrypoint[3:], *command],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "s3cr3t-value|start-dev --import-realm"

    secret.unlink()
    result = subprocess.run(["bash", "-c", script, *entrypoint[3:], *command],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode != 0 and result.stdout == "", "a missing secret must stop the start"


@pytest.mark.parametrize("name, secret, password", [
    ("DEMO_USER_PASSWORD", "s3cr3t", None),
    ("DEMO_USER_PASSWORD", "s3cr3t", ""),
    ("DEMO_USER_PASSWORD", "s3cr3t", 'pa"ss'),
    ("DEMO_USER_PASSWORD", "s3cr3t", "pa\\ss"),
    ("DEMO_USER_PASSWORD", "s3cr3t", "pa\tss"),
    ("KEYCLOAK_CLIENT_SECRET", 'se"cret', "Test#123456"),
    ("KEYCLOAK_CLIENT_SECRET", "", "Test#123456"),
])
def test_keycloak_entrypoint_refuses_unset_or_json_unsafe_placeholder_values(config, tmp_path, name, secret, password):
    """Keycloak puts realm-file placeholders into the raw JSON unescaped and leaves unset ones as
    literal text (StringPropertyReplacer): the wrapper stops before kc.sh, naming the variable
    but never printing its value."""
    entrypoint = config["services"]["keycloak"]["entrypoint"]
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")
    fake_kc = tmp_path / "kc.sh"
    fake_kc.write_text('#!/bin/bash\necho started\n')
    fake_kc.chmod(0o755)
    script = (entrypoint[2].replace("$$", "$").replace(CLIENT_SECRET_PATH, str(secret_file))
              .replace("/opt/keycloak/bin/kc.sh", str(fake_kc)))
    environment = {"PATH": os.environ["PATH"]}
    if password is not None:
        environment["DEMO_USER_PASSWORD"] = password
    result = subprocess.run(["bash", "-c", script, *entrypoint[3:], "start-dev"],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode == 64 and result.stdout == "", result.stderr
    assert name in result.stderr and "JSON-safe" in result.stderr
    for value in (secret, password):
        if value and len(value) > 3:
            assert value not in result.stderr


class _HealthEndpoint(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200

    def do_GET(self):  # noqa: N802
        body = json.dumps({"status": "UP" if self.status == 200 else "DOWN"}).encode()
        type(self).paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the probe may hang up after the status line

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False), (None, False)])
def test_keycloak_healthcheck_command(config, status, healthy):
    """The bash /dev/tcp probe against a stand-in management port: only a 200 passes."""
    test = config["services"]["keycloak"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    handler = type("Handler", (_HealthEndpoint,), {"status": status or 200, "paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens on the port
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = test[3].replace("$$", "$").replace("/dev/tcp/127.0.0.1/9000", f"/dev/tcp/127.0.0.1/{port}")
        result = subprocess.run(["bash", "-c", script], capture_output=True, timeout=20)
        assert (result.returncode == 0) == healthy, result.stderr
        if status is not None:
            assert handler.paths == ["/health/ready"]
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()


# ---- the realm file ----------------------------------------------------------------------------

def test_realm_file():
    realm = json.loads(REALM_FILE.read_text())
    assert realm["realm"] == "testing"
    assert realm["enabled"] is True
    assert realm["sslRequired"] == "external"

    clients = {client["clientId"]: client for client in realm["clients"]}
    client = clients["fastapi-keycloak"]
    assert client["enabled"] is True
    assert client["protocol"] == "openid-connect"
    assert client["publicClient"] is False
    assert client["directAccessGrantsEnabled"] is True
    assert client["standardFlowEnabled"] is True
    assert client["serviceAccountsEnabled"] is False
    assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", client["secret"]), "the secret must be a placeholder"
    assert client["secret"] == "${KEYCLOAK_CLIENT_SECRET}"
    assert "https://localhost:8443/*" in client["redirectUris"]
    assert "https://localhost:8443" in client["webOrigins"]

    assert "user" in {role["name"] for role in realm["roles"]["realm"]}
    assert "reader" in {role["name"] for role in realm["roles"]["client"]["fastapi-keycloak"]}

    users = {user["username"]: user for user in realm["users"]}
    user = users["abdullah"]
    assert user["enabled"] is True
    assert user["email"] == "abdullah@example.com"
    assert user["emailVerified"] is True
    assert user["firstName"] == "Abdullah"
    assert user["lastName"] == "Alqahtani"
    assert user.get("requiredActions", []) == []
    passwords = [c for c in user["credentials"] if c["type"] == "password"]
    assert len(passwords) == 1
    assert passwords[0]["temporary"] is False
    assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", passwords[0]["value"])
    assert "user" in user["realmRoles"]
    assert "reader" in user["clientRoles"]["fastapi-keycloak"]
    # Imported users get no default roles (DefaultExportImportManager.createUser: addUser(...,
    # addDefaultRoles=false, ...)): the file must give default-roles-testing itself.
    assert "default-roles-testing" in user["realmRoles"]
    # Keycloak 26.6.2 introspection answers active:false unless the client is in aud, and
    # Audience Resolve never adds the token's own client: an Audience mapper does.
    mappers = [m for m in client.get("protocolMappers", []) if m["protocolMapper"] == "oidc-audience-mapper"]
    assert len(mappers) == 1
    assert mappers[0]["config"]["included.client.audience"] == "fastapi-keycloak"
    assert mappers[0]["config"]["access.token.claim"] == "true"
    assert mappers[0]["config"]["introspection.token.claim"] == "true"


def test_realm_placeholders_are_provided_to_keycloak(config):
    """Every ${NAME} in the realm file reaches the Keycloak container's environment."""
    placeholders = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", REALM_FILE.read_text()))
    assert placeholders == {"KEYCLOAK_CLIENT_SECRET", "DEMO_USER_PASSWORD"}
    keycloak = config["services"]["keycloak"]
    assert "DEMO_USER_PASSWORD" in keycloak["environment"]
    assert "export KEYCLOAK_CLIENT_SECRET" in keycloak["entrypoint"][2]


def test_demo_password_default_matches_the_local_identity_provider(config):
    users = {user["username"]: user for user in json.loads((REPO / "idp" / "users.json").read_text())}
    assert config["services"]["keycloak"]["environment"]["DEMO_USER_PASSWORD"] == users["abdullah"]["password"]
