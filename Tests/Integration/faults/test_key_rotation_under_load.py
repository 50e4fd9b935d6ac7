"""Key rotation under concurrent load through the real nginx: the provider rotates its key
(keeping, then dropping, the old keys) while old and new tokens are in use.

The load is Python threads (one `requests.Session` each, harness/load.py) that record every
answer: what is asserted is statuses and counts, not speed.
"""

from __future__ import annotations

import threading
import time

import requests

from harness.jwt import kid_of
from harness.load import FAST_TIMEOUTS, Load, Outcome, describe, remember_a_few


class TokenPool:
    """Tokens the load uses, by label ("k0", "k1", ...: the key that signed them)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens: list[tuple[str, str]] = []
        self._next = 0

    def add(self, label: str, token: str) -> None:
        with self._lock:
            self._tokens.append((label, token))

    def token(self, label: str) -> str:
        with self._lock:
            return dict(self._tokens)[label]

    def pick(self) -> tuple[str, str]:
        with self._lock:
            self._next += 1
            return self._tokens[self._next % len(self._tokens)]


def test_key_rotation_under_load(make_idp, make_stack):
    """Old tokens keep being used while the provider rotates its key four times (the third time
    dropping every older key) and new tokens are minted. Tokens of keys in the JWKS always get
    200; once the responder has seen a JWKS without their key, tokens of dropped keys get 401;
    nothing ever gets a 5xx. (The token cache is on, as by default: dropping a key must also
    evict what it verified.)

    Rotations are more than 10 s apart, the design's limit for refetches triggered by unknown
    kids, so the first request with a new kid may always refetch. The last rotation comes while
    tokens of the dropped keys are still in use, as clients that still hold them keep sending
    them."""
    idp = make_idp(access_token_lifespan=3600)
    stack = make_stack(idp, env=FAST_TIMEOUTS)
    tokens = TokenPool()
    live_from: dict[str, float] = {}
    dead_from: dict[str, float] = {}
    dropped_at: dict[str, float] = {}

    def mint(label: str) -> str:
        token = stack.token()
        live_from[label] = time.monotonic()
        tokens.add(label, token)
        return token

    def pooled(session: requests.Session):
        label, token = tokens.pick()
        return session.get(stack.url("/protected"), headers={"Authorization": f"Bearer {token}"}, timeout=60), label

    remembered = [0]

    def fresh(session: requests.Session):
        """A new login and at once a request with its token, labelled with the token's kid
        (normally the current key; the previous one when a rotation falls in between)."""
        login = session.post(stack.url("/login"), data={"username": "abdullah", "password": "Test#123456"}, timeout=60)
        if login.status_code != 200:
            return login, "fresh login"
        token = login.json()["access_token"]
        remember_a_few(login, remembered)
        return session.get(stack.url("/protected"), timeout=60,
                           headers={"Authorization": f"Bearer {token}"}), "kid:" + kid_of(token)

    driver: list[Outcome] = []

    def check(label: str, token: str) -> None:
        started = time.monotonic()
        answer = stack.protected(token)
        driver.append(Outcome("driver", started, time.monotonic(), answer.status_code, label, answer.content))

    label_of_kid = {idp.current_key()["kid"]: "k0"}

    def rotate(label: str, drop_old: bool) -> None:
        label_of_kid[idp.rotate(drop_old=drop_old)] = label

    mint("k0")
    load = Load(str(stack.session.verify))
    load.add("pool", 6, pooled)
    load.add("fresh", 2, fresh)
    load.start()
    try:
        time.sleep(1.5)
        # Rotations keeping the old keys. Unknown-kid refetches are rate-limited to one per 10 s:
        # the rotations are spaced beyond that, so the first request with each new kid refetches.
        for label in ("k1", "k2"):
            rotate(label, drop_old=False)
            check(label, mint(label))
            time.sleep(11)
        # Rotation dropping every older key: once the first k3 token has made the responder
        # refetch, the JWKS it holds lacks k0..k2.
        rotate("k3", drop_old=True)
        for label in ("k0", "k1", "k2"):
            dropped_at[label] = time.monotonic()
        check("k3", mint("k3"))
        for label in ("k0", "k1", "k2"):
            dead_from[label] = time.monotonic()
        time.sleep(12)
        # And one more rotation keeping k3, while the dropped-key tokens are still in use.
        rotate("k4", drop_old=False)
        check("k4", mint("k4"))
        time.sleep(3)
        check("k4", tokens.token("k4"))
    finally:
        outcomes = load.stop()

    problems = []
    everything = outcomes + driver
    for outcome in everything:
        if outcome.label.startswith("kid:"):
            outcome.label = "fresh " + label_of_kid.get(outcome.label[4:], outcome.label)
        label = outcome.label.removeprefix("fresh ")
        if outcome.status == 0 or outcome.status >= 500:
            problems.append(outcome)
        elif label == "login":
            problems.append(outcome)  # a login that did not answer 200
        elif label in dead_from and outcome.started >= dead_from[label]:
            if outcome.status != 401:
                problems.append(outcome)
        elif label in dropped_at and outcome.ended > dropped_at[label]:
            if outcome.status not in (200, 401):  # the responder may not have refetched yet
                problems.append(outcome)
        elif outcome.status != 200:
            problems.append(outcome)
    by_label: dict[str, dict[int, int]] = {}
    for outcome in everything:
        per_label = by_label.setdefault(outcome.label, {})
        per_label[outcome.status] = per_label.get(outcome.status, 0) + 1
    assert not problems, (f"{len(problems)} wrong answers; by label {by_label}\n"
                          + describe(sorted(problems, key=lambda o: o.started), 20)
                          + f"\nrotation times: live {live_from} dead {dead_from}"
                          + f"\nresponder: {stack.responder_log().count('refetch rate-limited')} refusals with "
                            "'refetch rate-limited', e.g.\n" + "\n".join(
                              [line[:220] for line in stack.responder_log().splitlines() if "rate-limited" in line][-2:]))
    assert by_label.get("k0", {}).get(401, 0) > 0 and by_label.get("k4", {}).get(200, 0) > 0, by_label
