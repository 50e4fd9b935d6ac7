"""Test controls Keycloak does not have, kept apart from the emulation: the fault board and
request counters (``faults``), token minting (``mint``) and the ``/_admin/`` API (``admin``).
The realm does not depend on them; only the server's routing does."""
