#!/usr/bin/env python3
"""Fill the ${NAME} placeholders of an nginx template, as the nginx image's envsubst step does.

Only the names given are replaced, so nginx's own $variables survive; a placeholder left
unfilled is an error rather than a broken configuration.

    render_nginx.py TEMPLATE OUTPUT NAME=value [NAME=value ...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: str, values: dict[str, str]) -> str:
    """Returns `template` with every ${NAME} replaced; raises KeyError naming any unknown one."""
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    template, output, *pairs = argv
    values = dict(pair.split("=", 1) for pair in pairs)
    try:
        text = render(Path(template).read_text(), values)
    except KeyError as error:
        print(f"render_nginx: {template}: {error.args[0]}", file=sys.stderr)
        return 1
    Path(output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
