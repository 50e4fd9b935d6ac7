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

The CORS allow-list is a list, which a ${NAME} placeholder cannot loop over, so it is rendered
into a file of its own that the template includes at http{} level (its ${CORS_MAPS_FILE}):

    render_nginx.py --cors OUTPUT CORS_ALLOWED_ORIGINS="https://app.example.com https://b.example"

writes the two maps $keycloak_cors_origin and $keycloak_cors_enabled (an empty list: CORS off).
The nginx image writes the same file at start (deploy/nginx/16-cors-origins.sh).
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


#: One origin of CORS_ALLOWED_ORIGINS, exactly as a browser sends it in `Origin` (RFC 6454 §6.2:
#: lower-case scheme and host, no path, no trailing slash): nginx compares it with the header
#: as a string. No `*` (never with credentials) and no `null`; only characters that cannot
#: break out of an nginx string or start a $variable. deploy/nginx/16-cors-origins.sh checks the
#: same in the image.
CORS_ORIGIN_PATTERN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?")
#: A default port never appears in a browser's Origin, so a listed one could never match.
CORS_DEFAULT_PORT = re.compile(r"https://.*:443|http://.*:80")


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


def cors_origins(value: str) -> list[str]:
    """The origins of a CORS_ALLOWED_ORIGINS value (separated by white space), duplicates
    dropped; raises ValueError naming every one that is not an exact browser origin."""
    origins = list(dict.fromkeys(value.split()))
    bad = [origin for origin in origins
           if not CORS_ORIGIN_PATTERN.fullmatch(origin) or CORS_DEFAULT_PORT.fullmatch(origin)]
    if bad:
        raise ValueError(f"not an origin as browsers send it: {' '.join(bad)} (scheme://host[:port] in "
                         "lower case, no path or trailing slash, no default port, no wildcard)")
    return origins


def render_cors(value: str) -> str:
    """The http{}-level file that keycloak-fcgi.conf includes as ${CORS_MAPS_FILE}: the request's
    Origin when it is one of CORS_ALLOWED_ORIGINS (the configured string, never the header
    itself), else empty; and whether CORS is on at all (an empty list: off, nginx adds nothing
    and answers no preflight). deploy/nginx/16-cors-origins.sh writes the same bytes."""
    origins = cors_origins(value)
    lines = [
        "# Rendered from CORS_ALLOWED_ORIGINS (scripts/render_nginx.py --cors; in the nginx image",
        "# deploy/nginx/16-cors-origins.sh). Included by keycloak-fcgi.conf; docs/cors-and-mtls.md.",
        "map $http_origin $keycloak_cors_origin {",
        '    default "";',
        *(f'    "{origin}" "{origin}";' for origin in origins),
        "}",
        "map $http_origin $keycloak_cors_enabled {",
        f"    default {1 if origins else 0};",
        "}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 2 or (argv[0] not in ("--docs", "--cors") and len(argv) < 3):
        print(__doc__, file=sys.stderr)
        return 2
    target, output, *pairs = argv
    values = dict(pair.split("=", 1) for pair in pairs)
    try:
        if target == "--docs":
            render_docs(Path(output), values)
        elif target == "--cors":
            Path(output).write_text(render_cors(values.get("CORS_ALLOWED_ORIGINS", "")))
        else:
            Path(output).write_text(render(Path(target).read_text(), values))
    except (KeyError, ValueError) as error:
        print(f"render_nginx: {target}: {error.args[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
