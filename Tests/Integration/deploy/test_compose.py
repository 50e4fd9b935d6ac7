"""The Docker deployment's Compose file, through Debian's docker-compose (`config`): services,
secrets, the Keycloak entrypoint wrapper and health check (run against stand-ins), the realm
file against the facts of Keycloak's import, the app's settings against the binary's own
`--check-config`, and the Redis service's command and health check run by a local redis-server.

No image is built and no container runs here (the machines have only a Docker client): every
piece that can be exercised on its own is. The tools and `docker-compose config` are
deploy/conftest.py's fixtures; reading the files is harness/deploy_files.py.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import REPO_ROOT as REPO
from harness.deploy_files import (CLIENT_SECRET_PATH, NGINX_DOCKERFILE, REALM_FILE, TEMPLATE, compose_config,
                                  dockerfile_env, tool)
from harness.stack import binary_path, free_port

SESSION_KEYS_PATH = "/run/secrets/session_keys"


def test_compose_file_is_valid(docker_compose, tmp_path):
    result = compose_config(docker_compose, tmp_path, None, "-q")
    assert result.returncode == 0, result.stderr


def test_compose_services(config):
    services = config["services"]
    assert set(services) == {"keycloak", "app", "nginx", "redis"}

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
    # Revocations shared by every replica (`--scale app=N`), browser sign-in with the session
    # keys from a secret; the app waits for a healthy Redis.
    assert environment["REVOCATION_STORE"] == "redis://redis:6379"
    assert environment["SESSION_KEYS_FILE"] == SESSION_KEYS_PATH
    assert environment["OIDC_REDIRECT_URI"] == "https://localhost:8443/oauth2/callback"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"

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
    for name, expected in (("app", ["keycloak_client_secret", "session_keys"]), ("keycloak", ["keycloak_client_secret"])):
        sources = [entry["source"] if isinstance(entry, dict) else entry
                   for entry in config["services"][name]["secrets"]]
        assert sources == expected, name
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
    keys = tmp_path / "session_keys"
    keys.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    result = compose_config(docker_compose, tmp_path, {"KEYCLOAK_FCGI_CLIENT_SECRET_FILE": str(own),
                                                       "KEYCLOAK_FCGI_SESSION_KEYS_FILE": str(keys)})
    assert result.returncode == 0, result.stderr
    secrets = yaml_module.safe_load(result.stdout)["secrets"]
    assert secrets["keycloak_client_secret"]["file"] == str(own)
    assert secrets["session_keys"]["file"] == str(keys)


def test_compose_session_keys_secret(config):
    """The development key file: one AES-256 key (base64 of 32 bytes, as SESSION_KEYS_FILE
    wants), said to be public in dev-secrets/README.md, and kept out of the images' build
    context like every other default secret file."""
    secret_file = Path(config["secrets"]["session_keys"]["file"])
    assert secret_file == REPO / "deploy" / "dev-secrets" / "session_keys"
    lines = [line for line in secret_file.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and len(base64.b64decode(lines[0], validate=True)) == 32, lines
    assert secret_file.stat().st_mode & 0o004, "a file secret keeps the host's mode: the app (uid 10001) must read it"
    readme = (REPO / "deploy" / "dev-secrets" / "README.md").read_text()
    assert "session_keys" in readme and "replace" in readme.lower()
    dockerignore = (REPO / ".dockerignore").read_text().splitlines()
    for name, secret in config["secrets"].items():
        relative = Path(secret["file"]).relative_to(REPO)
        assert any(str(relative).startswith(line.strip().rstrip("/") + "/") for line in dockerignore
                   if line.strip() and not line.startswith("#")), f"{relative} ({name}) is in the build context"


def test_compose_app_settings_are_a_valid_configuration(config, tmp_path):
    """The app's environment from the Compose file, with its secrets at the default files, is
    accepted by the binary itself (`--check-config`): browser sign-in on, the Redis store set."""
    environment = dict(config["services"]["app"]["environment"])
    files = {f"/run/secrets/{name}": secret["file"] for name, secret in config["secrets"].items()}
    environment = {key: files.get(value, value) for key, value in environment.items()}
    assert environment["SESSION_KEYS_FILE"] == str(REPO / "deploy" / "dev-secrets" / "session_keys")
    result = subprocess.run([str(binary_path()), "--env-file", "/dev/null", "--check-config"],
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert shown["SESSION_KEYS_FILE"] == "(set)", result.stdout
    assert shown["OIDC_REDIRECT_URI"] == "https://localhost:8443/oauth2/callback"
    assert shown["REVOCATION_STORE"] == "redis://redis:6379"
    assert shown["AUTH_VERIFY"] == "jwks"
    # The realm lets Keycloak send the browser back there, and sign-out back to the default
    # post-logout URI (the redirect URI's origin + "/").
    realm = json.loads(REALM_FILE.read_text())
    client = {c["clientId"]: c for c in realm["clients"]}["fastapi-keycloak"]
    assert shown["OIDC_REDIRECT_URI"] in client["redirectUris"]
    post_logout = client["attributes"]["post.logout.redirect.uris"].split("##")
    assert any(shown["OIDC_POST_LOGOUT_REDIRECT_URI"] == uri or
               (uri.endswith("*") and shown["OIDC_POST_LOGOUT_REDIRECT_URI"].startswith(uri[:-1])) for uri in post_logout)


def test_realm_backchannel_logout_url_reaches_nginx_internal_listener(config):
    """Keycloak posts logout tokens to the realm's back-channel URL: by default the `nginx`
    service on the port of its internal listener (the nginx image's INTERNAL_LISTEN, not
    published), whose server passes /oauth2/backchannel-logout to the app replicas."""
    realm = json.loads(REALM_FILE.read_text())
    client = {c["clientId"]: c for c in realm["clients"]}["fastapi-keycloak"]
    value = client["attributes"]["backchannel.logout.url"]
    match = re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*:(.+)\}", value)
    url = match.group(1) if match else value
    internal_port = dockerfile_env(NGINX_DOCKERFILE)["INTERNAL_LISTEN"].rsplit(":", 1)[-1]
    assert url == f"http://nginx:{internal_port}/oauth2/backchannel-logout", url
    assert "nginx" in config["services"]
    published = {int(port["target"]) for port in config["services"]["nginx"]["ports"]}
    assert int(internal_port) not in published
    template = TEMPLATE.read_text()
    internal_server = template[template.index("listen ${INTERNAL_LISTEN};"):]
    assert "location = /oauth2/backchannel-logout {" in internal_server
    block = internal_server[internal_server.index("location = /oauth2/backchannel-logout {"):]
    assert "fastcgi_pass keycloak_fcgi;" in block[:block.index("}")]


# ---- Redis ----------------------------------------------------------------------------------------

def test_compose_redis_service(config):
    redis = config["services"]["redis"]
    assert re.fullmatch(r"redis:7(\.\d+)*-alpine", redis["image"]), redis["image"]
    assert not redis.get("ports"), "Redis has no password here: it must stay on the compose network"
    assert "container_name" not in redis
    assert redis.get("restart") in {"unless-stopped", "always"}
    command = redis["command"]
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2]))
    assert options == {"--appendonly": "yes", "--appendfsync": "everysec", "--save": "", "--protected-mode": "no"}
    test = redis["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "redis-cli ping" in test[1], test
    # The host name in REVOCATION_STORE is this service.
    assert config["services"]["app"]["environment"]["REVOCATION_STORE"].startswith("redis://redis:")


def _redis_health(test: list[str], port: int) -> bool:
    script = test[1].replace("redis-cli", f"redis-cli -h 127.0.0.1 -p {port}")
    return subprocess.run(["sh", "-c", script], capture_output=True, timeout=10).returncode == 0


def test_compose_redis_command_and_healthcheck_against_a_local_redis(config, tmp_path):
    """The service's command run by the local redis-server 7 (the image's /data becomes a
    temporary directory, the port a free one): it starts, its append-only file brings a key
    back after a SIGKILL and restart, and the health check passes only when Redis answers PONG
    (not when nothing listens, not on an error reply such as NOAUTH)."""
    redis_server, redis_cli = tool("redis-server", "redis-server"), tool("redis-cli", "redis-tools")
    service = config["services"]["redis"]
    test = service["healthcheck"]["test"]
    port = free_port()
    assert not _redis_health(test, port), "healthy with nothing listening"

    def start(*extra: str) -> subprocess.Popen:
        process = subprocess.Popen([redis_server, *service["command"][1:], "--port", str(port), "--bind", "127.0.0.1",
                                    "--dir", str(tmp_path), *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _redis_health(test, port):
            assert process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.05)
        return process

    def cli(*args: str) -> str:
        return subprocess.run([redis_cli, "-h", "127.0.0.1", "-p", str(port), *args],
                              capture_output=True, text=True, timeout=10).stdout.strip()

    process = start()
    try:
        assert cli("CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
        assert cli("CONFIG", "GET", "save") == "save", "RDB snapshots are on"  # value empty
        cli("SET", "keycloak-fcgi:revoked:probe", "v1", "EX", "600")
        time.sleep(1.5)  # appendfsync everysec
        process.kill()
        process.wait(10)
        assert not _redis_health(test, port)
        process = start()
        assert cli("GET", "keycloak-fcgi:revoked:probe") == "v1", "the append-only file did not bring the key back"
        assert 0 < int(cli("TTL", "keycloak-fcgi:revoked:probe")) <= 600
    finally:
        process.kill()
        process.wait(10)
    # An error reply (here NOAUTH) exits redis-cli with 0: the check must not count it healthy.
    process = subprocess.Popen([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--requirepass", "probe-password-1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while "NOAUTH" not in cli("PING"):
            assert time.monotonic() < deadline, "the password-protected redis-server did not answer"
            time.sleep(0.05)
        assert not _redis_health(test, port), "an error reply counted as healthy"
    finally:
        process.kill()
        process.wait(10)


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
