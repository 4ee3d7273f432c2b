"""Passwords in URLs are hidden wherever a URL is shown: http(s) ones and STUN/TURN ones, which have no "//"."""

from __future__ import annotations

from contop.core.urlsecrets import hide_url_passwords


def test_passwords_of_http_and_ice_urls_are_hidden_and_nothing_else_changes() -> None:
    assert hide_url_passwords("http://alice:pw@127.0.0.1:8810/v1") == "http://alice:***@127.0.0.1:8810/v1"
    assert hide_url_passwords("turn:alice:s3cret@turn.example.org:3478") == "turn:alice:***@turn.example.org:3478"
    assert hide_url_passwords("bad: TURNS:bob:x@h and STUN:u:p@h") == "bad: TURNS:bob:***@h and STUN:u:***@h"
    for text in ("turn:turn.example.org:3478", "mail me at bob@example.org", "http://example.org/a@b", "plain"):
        assert hide_url_passwords(text) == text
