"""Runs last (zz_final/ sorts after every subject folder, and conftest.py moves it to the end
whatever the order of pytest's arguments): every log line written by every responder and nginx during the whole
integration run, checked for every password, client secret and token the tests handled, and
for Authorization headers. A full flow of its own first, so the check always has material."""

from __future__ import annotations

import re

from harness.stack import SessionRecord


def test_no_log_line_of_the_run_carries_a_secret(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"LOG_LEVEL": "trace"})
    token = stack.token("alice", "p&ss+w%rd é#1")
    stack.protected(token)
    stack.protected(idp.mint(claims={"iss": "https://elsewhere"}))
    stack.login("abdullah", "Not-The-Password#1")
    stack.stop()

    log_files, recorded = SessionRecord.everything()
    files = [path for path in set(log_files) if path.exists()]
    assert files, "no log files were recorded"
    text = "\n".join(path.read_text("utf-8", errors="replace") for path in files)
    assert "http.status=200" in text  # the logs are real request logs, not empty files
    secrets = set(recorded)
    # Each token's signature alone is also a secret (a log could carry a truncated token).
    secrets |= {value.rsplit(".", 1)[1] for value in recorded if value.count(".") == 2}
    assert len(secrets) >= 5
    leaked = sorted({secret[:12] + "…" for secret in secrets if secret in text})
    assert not leaked, f"secrets found in logs: {leaked}"
    assert not re.search(r"(?i)authorization[\"']?\s*[:=]", text)
    assert not re.search(r"(?i)bearer\s+[A-Za-z0-9_-]{8,}", text)
