#!/usr/bin/env python3
"""mini_keycloak: a small Keycloak-compatible OpenID Connect provider for local runs and tests.

This file only starts it: the code is the package ``keycloak_emulator`` beside this file (its
docstring has the overview), so ``python3 idp/mini_keycloak.py ...`` works from any directory.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from keycloak_emulator.realm import is_local_address  # noqa: E402  (re-exported: tests load this file)
from keycloak_emulator.server import main  # noqa: E402

__all__ = ["is_local_address", "main"]

if __name__ == "__main__":
    sys.exit(main())
