"""What the deploy tests (deploy/) read and run: the files of the Docker deployment, Dockerfile
instructions as Docker reads them, `docker-compose config` with a clean environment, and the
tools, found with shutil.which or installed (apt for Debian packages when running as root). A
tool that cannot be had fails the test: nothing in deploy/ is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from . import REPO_ROOT as REPO

COMPOSE_FILE = REPO / "docker-compose.yaml"
APP_DOCKERFILE = REPO / "Dockerfile"
NGINX_DOCKERFILE = REPO / "deploy" / "nginx" / "Dockerfile"
REALM_FILE = REPO / "deploy" / "keycloak" / "realm-testing.json"
TEMPLATE = REPO / "nginx" / "templates" / "keycloak-fcgi.conf.template"
DEV_CERT_SCRIPT = REPO / "deploy" / "nginx" / "40-dev-certificate.sh"
RESOLVER_SNIPPET = REPO / "deploy" / "nginx" / "resolver.conf"
DOCKERIGNORE = REPO / ".dockerignore"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
CLIENT_SECRET_PATH = "/run/secrets/keycloak_client_secret"


# ---- tools -----------------------------------------------------------------------------------

def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   env=env, capture_output=True, timeout=900)


def tool(name: str, apt_package: str | None = None) -> str:
    path = shutil.which(name)
    if path is None and apt_package:
        apt_install(apt_package)
        path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is needed and could not be found or installed"
                    + (f" (Debian package {apt_package})" if apt_package else ""))
    return path


# ---- Dockerfile reading ------------------------------------------------------------------------

def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction too
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1]
            continue
        current += raw
        keyword, _, arguments = current.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, f"{path}: dangling line continuation"
    return instructions


def dockerfile_env(path: Path) -> dict[str, str]:
    """Every ENV key=value of the file's last stage (Dockerfile quoting, \\$ unescaped)."""
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    values: dict[str, str] = {}
    for keyword, arguments in instructions[last_from:]:
        if keyword != "ENV":
            continue
        for word in shlex.split(arguments.replace("\\$", "$")):
            assert "=" in word, f"ENV without key=value form: {word!r}"
            key, value = word.split("=", 1)
            values[key] = value
    return values


def healthcheck_command(path: Path) -> list[str]:
    healthchecks = [arguments for keyword, arguments in dockerfile_instructions(path)
                    if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1, f"{path}: expected exactly one HEALTHCHECK"
    _, _, command = healthchecks[0].partition(" CMD ")
    return json.loads(command)


def template_placeholders() -> set[str]:
    return set(PLACEHOLDER.findall(TEMPLATE.read_text()))


# ---- docker-compose.yaml -----------------------------------------------------------------------

def compose_env() -> dict[str, str]:
    """The caller's environment without the variables the Compose file interpolates."""
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text())
    return {key: value for key, value in os.environ.items() if key not in names}


def compose_config(docker_compose: str, tmp_path: Path, extra_env: dict[str, str] | None = None,
                   *flags: str) -> subprocess.CompletedProcess:
    # An empty --env-file, so a developer's ./.env cannot change what is checked.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return subprocess.run(
        [docker_compose, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", *flags],
        cwd=REPO, env={**compose_env(), **(extra_env or {})}, capture_output=True, text=True,
        timeout=120)
