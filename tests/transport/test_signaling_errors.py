"""A negotiation that fails inside the server tells the phone why on the signaling socket before closing it."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from contop.transport.manager import ShuttingDown
from contop.transport.signaling import negotiate, offer_problem


class Socket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str | None] | None = None

    async def send_text(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def receive(self) -> dict[str, Any]:
        raise AssertionError("nothing is read after a failed negotiation")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


class FailingManager:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc


async def run(exc: Exception) -> Socket:
    ws = Socket()
    await negotiate(
        ws, {"type": "offer", "sdp": "v=0\r\n"}, manager=FailingManager(exc),  # type: ignore[arg-type]
        device_id="phone", device_name="Phone", connection_type="permanent", path=None, set_location=lambda _: None,
    )  # fmt: skip
    return ws


@pytest.mark.parametrize(
    ("exc", "code", "close"),
    [
        (ValueError("cannot answer this offer: bad sdp"), "invalid_offer", 1008),
        (ShuttingDown("the server is shutting down"), "shutting_down", 1012),
        (RuntimeError("surprise"), "internal", 1011),  # any other failure is the server's own
        (KeyError("surprise"), "internal", 1011),
    ],
)
async def test_each_failure_is_reported_then_the_socket_closes(
    exc: Exception, code: str, close: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="contop.transport.signaling"):
        ws = await run(exc)
    assert [m["type"] for m in ws.sent] == ["error"] and ws.sent[0]["code"] == code
    assert ws.closed is not None and ws.closed[0] == close
    if code == "shutting_down":
        assert "try again" in ws.sent[0]["message"]
    if code == "internal":
        assert "surprise" not in ws.sent[0]["message"]  # internals stay in the log
        assert any("answering the offer of phone failed" in r.getMessage() for r in caplog.records)


def test_an_unreadable_offer_is_described_to_the_phone_and_its_exception_logged_for_debugging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="contop.transport.signaling"):
        problem = offer_problem({"sdp": "v=0\r\ns=-\r\nm=application x UDP/DTLS/SCTP webrtc-datachannel\r\n"})
    assert problem is not None and problem[0] == "invalid_offer"
    assert "at line 3 ('m=application x UDP/DTLS/SCTP webrtc-datachannel')" in problem[1]
    assert "Error" not in problem[1]
    [record] = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert record.exc_info is not None and record.exc_info[0] is AssertionError
