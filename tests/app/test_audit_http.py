"""What the HTTP audit hook records of a request: its path with capabilities digested,
and the outcome its status means."""

from __future__ import annotations

import hashlib

from aiohttp.test_utils import make_mocked_request

from app.audit import outcome_of, target_of


def test_an_action_links_token_is_recorded_as_a_digest() -> None:
    token = "eyJhbGciOi.secret.sig"
    request = make_mocked_request("POST", f"/api/v1/actions/{token}", match_info={"token": token})
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    assert target_of(request) == f"/api/v1/actions/sha256:{digest}"
    plain = make_mocked_request("DELETE", "/api/v2/silence/abc", match_info={"silence_id": "abc"})
    assert target_of(plain) == "/api/v2/silence/abc"


def test_outcome_of_status() -> None:
    assert [outcome_of(s) for s in (200, 202, 401, 403, 400, 422, 500)] == [
        "ok",
        "ok",
        "denied",
        "denied",
        "error",
        "error",
        "error",
    ]
