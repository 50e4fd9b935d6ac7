"""The nginx image: its envsubst filter against the template's placeholders, the entrypoint's
rendering against scripts/render_nginx.py (the template, and the CORS allow-list of
16-cors-origins.sh), the development-certificate step, and the rendered configuration through
`nginx -t`.

No image is built and no container runs here (the machines have only a Docker client): every
piece that can be exercised on its own is. The tools and `docker-compose config` are
deploy/conftest.py's fixtures; reading the files is harness/deploy_files.py.
"""

from __future__ import annotations

import os
import re
import subprocess

from harness.deploy_files import DEV_CERT_SCRIPT, NGINX_DOCKERFILE, RESOLVER_SNIPPET, TEMPLATE, dockerfile_env
from harness.deploy_files import template_placeholders, tool
from harness.stack import REPO_ROOT, render, render_cors

CORS_SCRIPT = REPO_ROOT / "deploy" / "nginx" / "16-cors-origins.sh"


# ---- the nginx image ---------------------------------------------------------------------------

def test_nginx_envsubst_filter_covers_exactly_the_template_placeholders():
    env = dockerfile_env(NGINX_DOCKERFILE)
    placeholders = template_placeholders()
    assert placeholders, "no placeholders found in the template"
    missing_defaults = placeholders - set(env)
    assert not missing_defaults, f"no ENV default in deploy/nginx/Dockerfile for {sorted(missing_defaults)}"
    for name in placeholders:
        assert env[name] != "", name

    # The image's 20-envsubst-on-templates.sh picks names with awk: `name ~ /FILTER/`.
    names_filter = re.compile(env["NGINX_ENVSUBST_FILTER"])
    for name in placeholders:
        assert names_filter.search(name), f"NGINX_ENVSUBST_FILTER does not match {name}"
    for other in ("PATH", "HOME", "HOSTNAME", "NGINX_VERSION", "PKG_RELEASE", "NJS_VERSION",
                  "NGINX_ENVSUBST_FILTER", "SERVER_NAME_EXTRA", "MY_SERVER_NAME", "host", "uri",
                  "request_uri", "TLS_DIR"):
        assert not names_filter.search(other), f"NGINX_ENVSUBST_FILTER also matches {other}"
    assert env["FCGI_UPSTREAM"] == "app:9000 resolve"


def _image_values() -> dict[str, str]:
    env = dockerfile_env(NGINX_DOCKERFILE)
    return {name: env[name] for name in template_placeholders()}


def test_nginx_entrypoint_rendering_equals_render_nginx(tmp_path):
    """The entrypoint's own steps (awk over the environment, envsubst with the chosen names),
    run on the image's ENV plus unrelated variables, give what scripts/render_nginx.py gives."""
    tool("envsubst", "gettext-base")
    env_defaults = dockerfile_env(NGINX_DOCKERFILE)
    environment = {"PATH": os.environ["PATH"], "HOME": "/root", "HOSTNAME": "abc123",
                   "NGINX_VERSION": "1.27.5", "host": "should-not-appear", **env_defaults}
    script = r"""
filter="${NGINX_ENVSUBST_FILTER:-}"
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null ))
envsubst "$defined_envs" < "$1"
"""
    result = subprocess.run(["sh", "-c", script, "sh", str(TEMPLATE)], env=environment,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    expected = render(TEMPLATE.read_text(), _image_values())
    assert result.stdout == expected
    assert "${" not in result.stdout
    assert "server app:9000 resolve;" in result.stdout
    assert "$request_uri" in result.stdout and "$binary_remote_addr" in result.stdout


def test_dev_certificate_script(tmp_path):
    openssl = tool("openssl", "openssl")
    directory = tmp_path / "tls"
    env = dict(os.environ, TLS_DIR=str(directory))
    result = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("tls.crt", "tls.key", "ca.crt"):
        assert (directory / name).is_file(), name
    assert not (directory / "ca.key").exists(), "the CA key should not be left behind"
    assert (directory / "tls.key").stat().st_mode & 0o077 == 0, "the key must be private"

    verify = subprocess.run([openssl, "verify", "-CAfile", str(directory / "ca.crt"), str(directory / "tls.crt")],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stdout + verify.stderr
    san = subprocess.run([openssl, "x509", "-in", str(directory / "tls.crt"), "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True)
    assert "DNS:localhost" in san.stdout and "127.0.0.1" in san.stdout
    public_keys = [subprocess.run([openssl, *args], capture_output=True).stdout for args in (
        ["x509", "-in", str(directory / "tls.crt"), "-noout", "-pubkey"],
        ["pkey", "-in", str(directory / "tls.key"), "-pubout"])]
    assert public_keys[0] and public_keys[0] == public_keys[1], "tls.key does not belong to tls.crt"

    # An existing certificate (an operator's) is left alone.
    before = {name: (directory / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")}
    again = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert {name: (directory / name).read_bytes() for name in before} == before

    # A certificate without its key is refused rather than handed to nginx.
    (directory / "tls.key").unlink()
    broken = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0
    assert not (directory / "tls.key").exists()


def test_rendered_nginx_configuration_is_valid(tmp_path):
    """The template rendered with the image's defaults passes `nginx -t`.

    Two changes for Debian's nginx 1.22 on this machine: `resolve` in an upstream needs
    1.27.3, and the name `app` exists only on the compose network, so the upstream server
    becomes 127.0.0.1:9000. The TLS paths point at a certificate made by the image's own
    development-certificate step. The Docker resolver snippet is included as is (the
    `resolver` directive itself is valid in 1.22).
    """
    nginx = tool("nginx", "nginx")
    tls = tmp_path / "tls"
    made = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=dict(os.environ, TLS_DIR=str(tls)),
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr

    values = _image_values()
    assert values["TLS_CERTIFICATE"] == "/etc/nginx/tls/tls.crt"
    assert values["TLS_CERTIFICATE_KEY"] == "/etc/nginx/tls/tls.key"
    values.update(TLS_CERTIFICATE=str(tls / "tls.crt"), TLS_CERTIFICATE_KEY=str(tls / "tls.key"))
    # The CORS maps as the image's step writes them, for a list (an empty one is checked too).
    assert values["CORS_MAPS_FILE"] == "/etc/nginx/conf.d/cors/cors-origins.conf"
    values["CORS_MAPS_FILE"] = str(tmp_path / "cors" / "cors-origins.conf")
    made = run_cors_step(values["CORS_MAPS_FILE"], "https://app.example http://localhost:3000")
    assert made.returncode == 0, made.stderr
    rendered = render(TEMPLATE.read_text(), values)
    assert rendered.count("server app:9000 resolve;") == 1  # the one upstream (keepalive for every method)
    rendered = rendered.replace("server app:9000 resolve;", "server 127.0.0.1:9000;")

    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "keycloak-fcgi.conf").write_text(rendered)
    (prefix / "nginx.conf").write_text(f"""
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {RESOLVER_SNIPPET};
    include {prefix}/keycloak-fcgi.conf;
}}
""")
    result = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert run_cors_step(values["CORS_MAPS_FILE"], "").returncode == 0
    result = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# ---- CORS_ALLOWED_ORIGINS ----------------------------------------------------------------------

def run_cors_step(file: str, origins: str | None) -> subprocess.CompletedProcess[str]:
    """deploy/nginx/16-cors-origins.sh as the entrypoint runs it (sh, no other environment)."""
    env = {"PATH": os.environ["PATH"], "CORS_MAPS_FILE": file}
    if origins is not None:
        env["CORS_ALLOWED_ORIGINS"] = origins
    return subprocess.run(["sh", str(CORS_SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_nginx_cors_step_writes_what_render_nginx_writes(tmp_path):
    env = dockerfile_env(NGINX_DOCKERFILE)
    assert env["CORS_ALLOWED_ORIGINS"] == ""  # CORS off unless the operator lists origins
    for origins in (None, "", "https://app.example",
                    " https://app.example\thttp://localhost:3000  https://app.example ",
                    "https://[::1]:8443 http://127.0.0.1:8080 https://a-b.c.example:1"):
        file = tmp_path / "out" / "cors.conf"
        result = run_cors_step(str(file), origins)
        assert result.returncode == 0, result.stderr
        assert file.read_text() == render_cors(origins or ""), origins


def test_nginx_cors_step_refuses_what_render_nginx_refuses(tmp_path):
    # No wildcard in any form, nothing a browser never sends, nothing that could break out of the
    # nginx string.
    for origins in ("*", "https://app.example *", "https://*.example", "null", "https://App.example",
                    "https://app.example/", "https://app.example/path", "https://app.example:443",
                    "http://app.example:80", "app.example", "ftp://app.example", 'https://a.example";',
                    "https://$host", "https://a.example{"):
        result = run_cors_step(str(tmp_path / "cors.conf"), origins)
        assert result.returncode != 0, origins
        assert "CORS_ALLOWED_ORIGINS" in result.stderr
        assert not (tmp_path / "cors.conf").exists()
        try:
            render_cors(origins)
        except ValueError:
            pass
        else:
            raise AssertionError(f"render_nginx.py accepts {origins!r}")
