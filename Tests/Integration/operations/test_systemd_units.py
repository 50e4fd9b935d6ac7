"""The systemd units for hosts that run nginx natively: they parse and verify with systemd's own
checker, and they wire the socket activation the responder supports (FCGI_LISTEN=systemd,
exercised for real in operations/test_operations.py::test_systemd_socket_activation)."""

from __future__ import annotations

import configparser
import shutil
import subprocess

import pytest

from harness.stack import REPO_ROOT, binary_path

UNITS = REPO_ROOT / "deploy" / "systemd"


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    for name in ("keycloak-fcgi.service", "keycloak-fcgi.socket"):
        text = (UNITS / name).read_text().replace("/usr/local/bin/keycloak-fcgi", str(binary_path()))
        (tmp_path / name).write_text(text)
    result = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / "keycloak-fcgi.socket"),
                             str(tmp_path / "keycloak-fcgi.service")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_service_uses_the_socket_and_a_credential_for_the_secret():
    service = read_unit("keycloak-fcgi.service")
    socket_unit = read_unit("keycloak-fcgi.socket")
    environment = service["Service"]["Environment"]
    assert "FCGI_LISTEN=systemd" in (UNITS / "keycloak-fcgi.service").read_text()
    assert service["Unit"]["Requires"] == "keycloak-fcgi.socket"
    assert socket_unit["Socket"]["Accept"] == "no"  # one long-running responder, not one per connection
    assert socket_unit["Socket"]["SocketMode"] == "0660"
    assert service["Service"]["KillSignal"] == "SIGTERM"
    assert "LoadCredential" in service["Service"]
    assert "KEYCLOAK_CLIENT_SECRET" not in (UNITS / "keycloak-fcgi.env.example").read_text().replace(
        "KEYCLOAK_CLIENT_SECRET_FILE", "")
    assert environment  # at least one Environment= line


def test_check_config_accepts_the_example_environment(tmp_path):
    secret = tmp_path / "client-secret"
    secret.write_text("example\n")
    env = {"PATH": "/usr/bin:/bin", "FCGI_LISTEN": "systemd", "KEYCLOAK_CLIENT_SECRET_FILE": str(secret)}
    for line in (UNITS / "keycloak-fcgi.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    result = subprocess.run([str(binary_path()), "--check-config", "--env-file", "/dev/null"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "FCGI_LISTEN=systemd" in result.stdout
