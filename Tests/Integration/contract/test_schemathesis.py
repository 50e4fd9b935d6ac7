"""Schemathesis (property-based API testing) against the OpenAPI document nginx serves, through
the real stack: no 5xx, and every response (status, content type, headers, body) matches
``/openapi.json`` — ``--checks all``, which includes not_a_server_error,
status_code_conformance, content_type_conformance, response_headers_conformance,
response_schema_conformance and the method checks (405 with ``Allow``).

Run twice: without credentials, and with ``Authorization: Bearer <valid token>`` from
``POST /login``. The number of examples per operation and the seed are fixed so that CI is
bounded (well under two minutes) and repeatable; SCHEMATHESIS_SEED / SCHEMATHESIS_EXAMPLES
override them to explore further. The stack's login rate limit is generous (1000 r/s, burst
1000), so the documented 429 does not get in the way.

schemathesis is installed (pinned) by scripts/ensure-security-tools.sh when missing; the test
fails if it cannot be installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from harness.stack import REPO_ROOT

SEED = os.environ.get("SCHEMATHESIS_SEED", "1")
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "20")


@pytest.fixture(scope="module")
def schemathesis_installed():
    result = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "ensure-security-tools.sh"), "schemathesis"],
                            capture_output=True, text=True, env=dict(os.environ, PYTHON=sys.executable), timeout=600)
    assert result.returncode == 0, f"schemathesis could not be installed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def stack(shared_idp, make_stack):
    # One stack per run, so that a responder one run brought down cannot spoil the other.
    return make_stack(shared_idp, name="schemathesis", login_rate="1000r/s", login_burst=1000)


def run_schemathesis(stack, tmp_path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "run", stack.url("/openapi.json"),
        "--url", stack.url(""),
        "--tls-verify", str(stack.tls_dir / "ca.crt"),
        "--checks", "all",
        "--max-examples", EXAMPLES,
        "--seed", SEED,
        "--workers", "2",
        "--request-timeout", "30",
        "--no-color",
        "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"),
        *extra,
    ]
    # The environment without proxies: only the loopback stack is a target.
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def assert_no_failures(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-3000:]
    # It really tested every operation of the document.
    assert re.search(r"Tested:\s+7\b", output), f"schemathesis did not test the 7 operations:\n{output[-5000:]}"
    assert result.returncode == 0, f"schemathesis reported failures:\n{output[-12000:]}\n{summary}"


def test_schemathesis_without_credentials(schemathesis_installed, stack, tmp_path):
    assert_no_failures(run_schemathesis(stack, tmp_path))


def test_schemathesis_with_a_valid_bearer_token(schemathesis_installed, stack, tmp_path):
    token = stack.token()  # remembered for the final log check (stack.login)
    assert stack.protected(token).status_code == 200
    assert_no_failures(run_schemathesis(stack, tmp_path, "--header", f"Authorization: Bearer {token}"))
