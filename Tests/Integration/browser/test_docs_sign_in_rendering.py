"""The Swagger page's deployment-specific files (openapi.json with the realm's sign-in URLs,
swagger-init.js with its client id), rendered the two ways a deployment renders them: locally
by `scripts/render_nginx.py --docs`, in the nginx image by jq at build time and the image's
envsubst step at start (deploy/nginx/Dockerfile), after its check of the values
(deploy/nginx/15-docs-sign-in.sh). Both give the same files, and both refuse the same values.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import REPO_ROOT
from harness.deploy_files import NGINX_DOCKERFILE, dockerfile_env, tool
from harness.openapi_contract import load_openapi
from harness.stack import render_docs

HTML_DIR = REPO_ROOT / "nginx" / "html"
DOCS_CHECK_SCRIPT = REPO_ROOT / "deploy" / "nginx" / "15-docs-sign-in.sh"
SCHEME = "OAuth2AuthorizationCodeBearer"
VALUES = {"DOCS_KEYCLOAK_ISSUER": "https://sso.example.com/auth/realms/testing", "DOCS_CLIENT_ID": "keycloak-fcgi-docs"}


def test_rendered_document_is_the_committed_one_plus_the_sign_in_scheme(tmp_path):
    from openapi_spec_validator import validate

    render_docs(tmp_path, VALUES)
    rendered = json.loads((tmp_path / "openapi.json").read_text("utf-8"))
    validate(rendered)
    committed = load_openapi()
    issuer = VALUES["DOCS_KEYCLOAK_ISSUER"]
    assert rendered["components"]["securitySchemes"][SCHEME]["flows"]["authorizationCode"] == {
        "authorizationUrl": f"{issuer}/protocol/openid-connect/auth",
        "tokenUrl": f"{issuer}/protocol/openid-connect/token",
        "scopes": {"openid": "OpenID Connect sign-in"}}
    assert rendered["paths"]["/protected"]["get"]["security"] == [{"HTTPBearer": []}, {SCHEME: ["openid"]}]
    # Take the two additions away: what is left is the committed document, unchanged.
    del rendered["components"]["securitySchemes"][SCHEME]
    rendered["paths"]["/protected"]["get"]["security"] = [{"HTTPBearer": []}]
    assert rendered == committed
    assert json.dumps(rendered) == json.dumps(committed), "the committed document's order changed"

    init = (tmp_path / "swagger-init.js").read_text("utf-8")
    committed_init = (HTML_DIR / "docs" / "swagger-init.js").read_text("utf-8")
    assert init == committed_init.replace("${DOCS_CLIENT_ID}", "keycloak-fcgi-docs")
    assert "${" not in init


def image_rendering(workdir: Path, values: dict[str, str]) -> Path:
    """The nginx image's way: jq's merge (the Dockerfile's RUN) into templates/docs/, then the
    official 20-envsubst-on-templates.sh's steps over the image's ENV with `values` on top."""
    jq, _ = tool("jq", "jq"), tool("envsubst", "gettext-base")
    dockerfile = NGINX_DOCKERFILE.read_text()
    assert "jq -s '.[0] * .[1]'" in dockerfile and "openapi-sign-in.json" in dockerfile
    templates = workdir / "templates" / "docs"
    templates.mkdir(parents=True)
    merged = subprocess.run(
        [jq, "-s", ".[0] * .[1]", str(HTML_DIR / "openapi.json"), str(HTML_DIR / "openapi-sign-in.json")],
        capture_output=True, text=True, timeout=60, check=True)
    (templates / "openapi.json.template").write_text(merged.stdout, "utf-8")
    init = (HTML_DIR / "docs" / "swagger-init.js").read_text("utf-8")
    (templates / "swagger-init.js.template").write_text(init, "utf-8")
    output = workdir / "conf.d"
    environment = {"PATH": os.environ["PATH"], **dockerfile_env(NGINX_DOCKERFILE), **values}
    script = r"""
filter="${NGINX_ENVSUBST_FILTER:-}"
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null ))
mkdir -p "$2/docs"
for name in openapi.json swagger-init.js; do
    envsubst "$defined_envs" < "$1/docs/$name.template" > "$2/docs/$name"
done
"""
    subprocess.run(["sh", "-c", script, "sh", str(workdir / "templates"), str(output)], env=environment,
                   capture_output=True, text=True, timeout=60, check=True)
    return output / "docs"


def test_image_renders_the_same_files_as_render_nginx(tmp_path):
    local = tmp_path / "local"
    render_docs(local, VALUES)
    image = image_rendering(tmp_path / "image", VALUES)
    assert json.dumps(json.loads((image / "openapi.json").read_text("utf-8"))) == \
        json.dumps(json.loads((local / "openapi.json").read_text("utf-8")))
    assert (image / "swagger-init.js").read_text("utf-8") == (local / "swagger-init.js").read_text("utf-8")
    # The image's defaults: its own rendered directory, the Compose realm's issuer and client.
    env = dockerfile_env(NGINX_DOCKERFILE)
    assert env["DOCS_RENDERED_DIR"] == "/etc/nginx/conf.d/docs"
    assert env["DOCS_CLIENT_ID"] == "keycloak-fcgi-docs"
    assert re.fullmatch(r"https?://[^/]+/realms/testing", env["DOCS_KEYCLOAK_ISSUER"])


def run_docs_check(values: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], **dockerfile_env(NGINX_DOCKERFILE), **values}
    return subprocess.run(["sh", str(DOCS_CHECK_SCRIPT)], env=environment, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name, value, good", [
    ("DOCS_KEYCLOAK_ISSUER", "http://keycloak:8080/realms/testing", True),
    ("DOCS_KEYCLOAK_ISSUER", "https://sso.example.com/auth/realms/my%20realm", True),
    ("DOCS_KEYCLOAK_ISSUER", "http://[::1]:8080/realms/testing", True),
    ("DOCS_KEYCLOAK_ISSUER", "http://keycloak:8080/realms/testing/", False),   # trailing slash
    ("DOCS_KEYCLOAK_ISSUER", 'http://keycloak:8080/realms/te"st', False),      # JSON
    ("DOCS_KEYCLOAK_ISSUER", "http://keycloak:8080/realms/a;script-src *", False),  # the CSP
    ("DOCS_KEYCLOAK_ISSUER", "http://keycloak:8080/realms/$host", False),      # an nginx variable
    ("DOCS_KEYCLOAK_ISSUER", "http://keycloak:8080/realms/a\nb", False),
    ("DOCS_KEYCLOAK_ISSUER", "keycloak:8080/realms/testing", False),
    ("DOCS_KEYCLOAK_ISSUER", "", False),
    ("DOCS_CLIENT_ID", "keycloak-fcgi-docs", True),
    ("DOCS_CLIENT_ID", 'docs";alert(1);"', False),                            # JavaScript
    ("DOCS_CLIENT_ID", "docs\\", False),
    ("DOCS_CLIENT_ID", "", False),
])
def test_unsafe_values_are_refused_in_the_image_and_locally(tmp_path, name, value, good):
    values = {**VALUES, name: value}
    checked = run_docs_check(values)
    assert (checked.returncode == 0) == good, checked.stderr
    if not good:
        assert name in checked.stderr
    if good:
        render_docs(tmp_path, values)
    else:
        with pytest.raises(ValueError, match=name):
            render_docs(tmp_path, values)


def test_image_check_wants_the_envsubst_output_directory():
    moved = run_docs_check({"NGINX_ENVSUBST_OUTPUT_DIR": "/etc/nginx/rendered"})
    assert moved.returncode != 0 and "DOCS_RENDERED_DIR must be /etc/nginx/rendered/docs" in moved.stderr
    assert run_docs_check({"NGINX_ENVSUBST_OUTPUT_DIR": "/etc/nginx/rendered",
                           "DOCS_RENDERED_DIR": "/etc/nginx/rendered/docs"}).returncode == 0
