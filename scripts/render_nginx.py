#!/usr/bin/env python3
"""Fill the ${NAME} placeholders of an nginx template, as the nginx image's envsubst step does.

Only the names given are replaced, so nginx's own $variables survive; a placeholder left
unfilled is an error rather than a broken configuration.

    render_nginx.py TEMPLATE OUTPUT NAME=value [NAME=value ...]

The Swagger page's deployment-specific files are rendered the same way, into a directory that
the template's ${DOCS_RENDERED_DIR} names:

    render_nginx.py --docs OUTPUT_DIR DOCS_KEYCLOAK_ISSUER=https://... DOCS_CLIENT_ID=...

writes OUTPUT_DIR/openapi.json (nginx/html/openapi.json with nginx/html/openapi-sign-in.json
merged in: the Keycloak sign-in scheme) and OUTPUT_DIR/swagger-init.js (the page's client id).
The nginx image does the same with jq at build time and envsubst at start (deploy/nginx/).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

HTML_DIR = Path(__file__).resolve().parent.parent / "nginx" / "html"

#: What the docs values may look like. They land unescaped in JSON, in a JavaScript string and
#: in nginx's Content-Security-Policy header, so only URL-safe characters without quotes,
#: backslashes, spaces, `;`, `,` or `$` pass, and the issuer has no trailing slash (endpoint
#: paths are appended to it).
#: deploy/nginx/15-docs-sign-in.sh checks the same in the image.
DOCS_VALUE_PATTERNS = {
    "DOCS_KEYCLOAK_ISSUER": re.compile(r"https?://[][A-Za-z0-9.:-]+(/[A-Za-z0-9._~%/-]*[A-Za-z0-9._~%-])?"),
    "DOCS_CLIENT_ID": re.compile(r"[A-Za-z0-9._~:@-]+"),
}


def render(template: str, values: dict[str, str]) -> str:
    """Returns `template` with every ${NAME} replaced; raises KeyError naming any unknown one."""
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def merge(document: Any, overlay: Any) -> Any:
    """`overlay` laid over `document`: objects merge key by key, recursively; anything else in
    the overlay replaces what was there (jq's `*`, which the nginx image uses)."""
    if isinstance(document, dict) and isinstance(overlay, dict):
        merged = dict(document)
        for key, value in overlay.items():
            merged[key] = merge(document[key], value) if key in document else value
        return merged
    return overlay


def check_docs_values(values: dict[str, str]) -> None:
    """Raises ValueError naming every docs value that is missing or not of its expected shape."""
    bad = [name for name, pattern in DOCS_VALUE_PATTERNS.items()
           if not pattern.fullmatch(values.get(name, ""))]
    if bad:
        raise ValueError(f"missing or unsafe value for {', '.join(bad)} "
                         "(an http(s) issuer URL without a trailing slash; a plain client id)")


def render_docs(output_dir: Path, values: dict[str, str], html_dir: Path = HTML_DIR) -> None:
    """Writes the Swagger page's deployment-specific files into `output_dir`: openapi.json (the
    API document with the sign-in overlay merged in) and swagger-init.js, placeholders filled."""
    check_docs_values(values)
    document = json.loads((html_dir / "openapi.json").read_text("utf-8"))
    overlay = json.loads(render((html_dir / "openapi-sign-in.json").read_text("utf-8"), values))
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "openapi.json").write_text(
        json.dumps(merge(document, overlay), indent=2, ensure_ascii=False) + "\n", "utf-8")
    (output_dir / "swagger-init.js").write_text(
        render((html_dir / "docs" / "swagger-init.js").read_text("utf-8"), values), "utf-8")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or (argv[0] != "--docs" and len(argv) < 3):
        print(__doc__, file=sys.stderr)
        return 2
    target, output, *pairs = argv
    values = dict(pair.split("=", 1) for pair in pairs)
    try:
        if target == "--docs":
            render_docs(Path(output), values)
        else:
            Path(output).write_text(render(Path(target).read_text(), values))
    except (KeyError, ValueError) as error:
        print(f"render_nginx: {target}: {error.args[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
