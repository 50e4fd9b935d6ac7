"""The Swagger UI page (nginx/html/docs/): it loads only absolute ``/docs/...`` assets that the
Swagger UI dist really ships (downloaded from PyPI ``drf-spectacular-sidecar``; set
``SWAGGER_UI_DIR`` to an unpacked ``swagger-ui-dist`` directory to test offline), has no inline
script (the CSP), configures Swagger UI as intended, and none of Swagger UI's files are committed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness import REPO_ROOT
from harness.openapi_contract import OPENAPI_PATH

HTML_DIR = REPO_ROOT / "nginx" / "html"
DOCS_DIR = HTML_DIR / "docs"
INDEX_HTML = DOCS_DIR / "index.html"
INIT_JS = DOCS_DIR / "swagger-init.js"
#: Files of this project under /docs/ (everything else there is Swagger UI's, never committed).
OWN_DOCS_FILES = {"index.html", "swagger-init.js"}

SIDECAR = "drf-spectacular-sidecar==2026.10.1"
SIDECAR_DIST = Path("drf_spectacular_sidecar/static/drf_spectacular_sidecar/swagger-ui-dist")


# --- the Swagger UI page --------------------------------------------------------------------

@pytest.fixture(scope="session")
def swagger_ui_dist(tmp_path_factory) -> Path:
    """An unpacked swagger-ui-dist: ``SWAGGER_UI_DIR`` or the wheel from PyPI."""
    configured = os.environ.get("SWAGGER_UI_DIR")
    if configured:
        path = Path(configured)
        if not (path / "swagger-ui-bundle.js").is_file():
            pytest.fail(f"SWAGGER_UI_DIR={configured} has no swagger-ui-bundle.js")
        return path
    download = tmp_path_factory.mktemp("sidecar")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             "--no-input", "--timeout", "30", SIDECAR, "-d", str(download)],
            capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot download {SIDECAR} from PyPI ({error}); set SWAGGER_UI_DIR to test offline")
    wheels = list(download.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        pytest.skip(f"pip cannot fetch {SIDECAR} from PyPI ({reason}); set SWAGGER_UI_DIR to test offline")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(download / "unpacked")
    dist = download / "unpacked" / SIDECAR_DIST
    assert (dist / "swagger-ui-bundle.js").is_file(), f"{SIDECAR} no longer ships {SIDECAR_DIST}"
    return dist


class _PageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script_text: list[str] = []
        self.handlers: list[str] = []
        self.ids: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.references.append((tag, name, value))
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}>")
            if name == "id" and value:
                self.ids.add(value)
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True

    def handle_endtag(self, tag) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data) -> None:
        if self._in_script and data.strip():
            self.inline_script_text.append(data.strip())


def _scan_page() -> _PageScan:
    scan = _PageScan()
    scan.feed(INDEX_HTML.read_text(encoding="utf-8"))
    return scan


def test_page_references_only_absolute_existing_assets(swagger_ui_dist: Path) -> None:
    scan = _scan_page()
    assert scan.references
    for tag, attribute, value in scan.references:
        assert value.startswith("/") and not value.startswith("//"), f"<{tag} {attribute}={value!r}> is not absolute"
        if value == "/openapi.json":
            continue
        assert value.startswith("/docs/"), f"<{tag} {attribute}={value!r}> is outside /docs/"
        name = value[len("/docs/"):]
        assert "/" not in name and "?" not in name and "#" not in name, value
        if name in OWN_DOCS_FILES:
            assert (DOCS_DIR / name).is_file(), value
        else:
            assert (swagger_ui_dist / name).is_file(), f"{value} is not in the Swagger UI dist"
    values = [value for _, _, value in scan.references]
    for required in ("/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js",
                     "/docs/swagger-ui-standalone-preset.js", "/docs/swagger-init.js",
                     "/docs/favicon-32x32.png"):
        assert required in values, f"index.html does not load {required}"


def test_page_has_no_inline_script_for_the_csp() -> None:
    """nginx sends ``script-src 'self'`` (via default-src): scripts must be files."""
    scan = _scan_page()
    assert not scan.inline_script_text, "inline <script> content would be blocked by the CSP"
    assert not scan.handlers, f"inline event handlers would be blocked: {scan.handlers}"
    text = INDEX_HTML.read_text(encoding="utf-8") + INIT_JS.read_text(encoding="utf-8")
    assert "javascript:" not in text
    assert "http://" not in text and "https://" not in text, "the page must load nothing from elsewhere"
    sources = [script.get("src") for script in scan.scripts]
    assert sources == ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js",
                       "/docs/swagger-init.js"], "the init script must run after the bundle and preset"
    assert "swagger-ui" in scan.ids


_NODE_HARNESS = r"""
// Runs as a script in node's global scope: keep every name inside the function.
(function () {
  process.on("uncaughtException", (error) => {
    // Keep the report short: the bundle is minified onto one enormous line.
    console.error(String(error && error.name) + ": " + String(error && error.message).slice(0, 500));
    process.exit(1);
  });
  const fs = require("fs"), vm = require("vm"), path = require("path");
  const [dist, init] = process.argv.slice(1);
  const bundle = require(path.join(dist, "swagger-ui-bundle.js"));
  const preset = require(path.join(dist, "swagger-ui-standalone-preset.js"));
  let config = null;
  const loaders = [];
  const fakeWindow = {
    location: { origin: "https://localhost:8443", pathname: "/docs/" },
    addEventListener(type, listener) { if (type === "load") loaders.push(listener); },
  };
  // The real bundle needs a DOM to render: stand in for its call, keep its real presets and plugins.
  const fakeBundle = function (options) { config = options; return {}; };
  fakeBundle.presets = bundle.presets;
  fakeBundle.plugins = bundle.plugins;
  const context = vm.createContext({ window: fakeWindow, SwaggerUIBundle: fakeBundle, SwaggerUIStandalonePreset: preset });
  vm.runInContext(fs.readFileSync(init, "utf8"), context, { filename: init });
  loaders.forEach((listener) => listener());
  if (!config) { console.error("SwaggerUIBundle was never called"); process.exit(1); }
  const out = {};
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== "object" || value === null) out[key] = value;
  }
  out.presetsAreTheDists = Array.isArray(config.presets) && config.presets.length === 2 &&
    config.presets[0] === bundle.presets.apis && config.presets[1] === preset;
  out.pluginsAreTheDists = Array.isArray(config.plugins) &&
    config.plugins.every((plugin) => plugin && Object.values(bundle.plugins).includes(plugin));
  out.hasDownloadUrl = (config.plugins || []).includes(bundle.plugins.DownloadUrl);
  console.log(JSON.stringify(out));
})();
"""


def test_init_script_configures_swagger_ui(swagger_ui_dist: Path) -> None:
    """Runs swagger-init.js under node against the real bundle's exports (no browser here)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run swagger-init.js")
    result = subprocess.run([node, "-e", _NODE_HARNESS, str(swagger_ui_dist), str(INIT_JS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout.strip().splitlines()[-1])
    assert config["url"] == "/openapi.json"
    assert config["dom_id"] == "#swagger-ui"
    assert config["deepLinking"] is True
    assert config["persistAuthorization"] is True
    assert config["tryItOutEnabled"] is True
    assert config["layout"] == "StandaloneLayout"
    assert config["validatorUrl"] is None, "no calls to the public validator (CSP, privacy)"
    assert config["oauth2RedirectUrl"] == "https://localhost:8443/docs/oauth2-redirect.html"
    assert (swagger_ui_dist / "oauth2-redirect.html").is_file()
    assert config["presetsAreTheDists"] and config["pluginsAreTheDists"] and config["hasDownloadUrl"]
    # In the browser the two files define these globals (UMD), which swagger-init.js uses.
    assert ".SwaggerUIBundle=" in (swagger_ui_dist / "swagger-ui-bundle.js").read_text(encoding="utf-8")[:2000]
    assert ".SwaggerUIStandalonePreset=" in (
        swagger_ui_dist / "swagger-ui-standalone-preset.js").read_text(encoding="utf-8")[:2000]
    assert (HTML_DIR / "openapi.json") == OPENAPI_PATH and OPENAPI_PATH.is_file()


def test_swagger_ui_files_are_not_committed(swagger_ui_dist: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "--cached", "--others",
                             "--exclude-standard", "--", "nginx/html"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    dist_names = {path.name for path in swagger_ui_dist.iterdir()}
    offending = [line for line in result.stdout.splitlines()
                 if Path(line).name in dist_names and Path(line).name not in OWN_DOCS_FILES]
    assert not offending, f"Swagger UI's own files must not be committed: {offending}"
