"""`PUT /api/settings` never repeats a password written into a URL when it refuses one: the README promises such
passwords show as ``***`` in every message."""

from __future__ import annotations

from contop.testing.server import ServerProcess


def refusal(server: ServerProcess, **changes: object) -> str:
    settings = server.request("GET", "/api/settings").json()
    before = (server.home / "settings.json").read_bytes()
    r = server.request("PUT", "/api/settings", json={**settings, **changes})
    assert r.status_code == 422, r.text
    assert (server.home / "settings.json").read_bytes() == before  # nothing was saved
    detail: str = r.json()["detail"]
    return detail


def test_a_refused_local_model_address_hides_its_password(server: ServerProcess) -> None:
    bad = "http://alice:pw-in-error-XYZ@127.0.0.1:8810/v1 extra"
    detail = refusal(server, local_model_base_url=bad)
    assert detail.startswith("local_model_base_url 'http://alice:***@127.0.0.1:8810/v1 extra' is not valid"), detail
    # A long user name puts the 200-character cut inside the password: none of it may show.
    long_user = "u" * 180
    detail = refusal(server, local_model_base_url=f"http://{long_user}:pw-cut-in-half-XYZ@host/v1 x")
    assert "pw-cut" not in detail and f"{long_user}:***" in detail, detail
    assert "pw-" not in server.all_logs()


def test_a_refused_execution_model_hides_a_password(server: ServerProcess) -> None:
    detail = refusal(server, execution_model="bogus:http://bob:pw-model-XYZ@10.0.0.5/v1")
    assert "'bogus:http://bob:***@10.0.0.5/v1' is not valid" in detail and "pw-model" not in detail, detail


def test_a_refused_stun_or_turn_url_hides_its_password(server: ServerProcess) -> None:
    """Credentials belong in username and credential; one pasted into the URL is refused without repeating it."""
    turn = {"username": "alice", "credential": "c"}
    for url, shown in (
        ("turn:alice:pw-ice-XYZ@turn.example:3478", "'turn:alice:***@turn.example:3478'"),
        ("turns://alice:pw-ice-XYZ@turn.example", "'turns://alice:***@turn.example'"),
        ("STUN:carol:pw-ice-XYZ@stun.example", "'STUN:carol:***@stun.example'"),
        (f"turn:{'u' * 190}:pw-ice-XYZ@turn.example", f"'turn:{'u' * 190}:***"),
    ):
        good = {"urls": "stun:stun.example"}
        for servers in ([{**turn, "urls": url}], [good, {**turn, "urls": ["stun:s.example", url]}]):
            detail = refusal(server, ice_servers=servers)
            assert "pw-ice" not in detail and shown in detail, (url, detail)
            assert "is not a STUN/TURN URL" in detail, detail
        # With another field's problem the message names both.
        detail = refusal(server, ice_servers=[{**turn, "urls": url}], video_fps="fast")
        assert detail.startswith("video_fps") and "pw-ice" not in detail and shown in detail, detail
    assert "pw-" not in server.all_logs()
