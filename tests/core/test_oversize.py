"""Outgoing envelopes bigger than the phone's data-channel limit are cut to fit, never refused."""

from __future__ import annotations

import base64
import json

from contop.core.oversize import fit_envelope

LIMIT = 256 * 1024


def envelope(payload: dict, kind: str = "tool_result") -> str:
    return json.dumps({"type": kind, "id": "m-1", "payload": payload}, ensure_ascii=False, separators=(",", ":"))


def test_a_message_that_fits_is_sent_unchanged() -> None:
    small = envelope({"tool": "execute_cli", "stdout": "hi"})
    assert fit_envelope(small, LIMIT) == (small, 0)
    exact = envelope({"stdout": ""})
    exact = envelope({"stdout": "é" * ((LIMIT - len(exact.encode())) // 2)})  # two bytes each: right at the limit
    assert len(exact.encode()) <= LIMIT < len(exact) * 4
    assert fit_envelope(exact, LIMIT) == (exact, 0)


def test_a_screenshot_is_replaced_by_a_note_and_the_rest_survives() -> None:
    image = base64.b64encode(bytes(range(256)) * 1600).decode()  # 400 KB of JPEG-like bytes, ~546 KB base64
    text = envelope({"tool": "observe_screen", "status": "success", "ref_id": "call-7",
                     "result": {"image_b64": image, "width": 1280, "height": 800}})  # fmt: skip
    fitted, size = fit_envelope(text, LIMIT)
    assert size == len(text.encode()) > LIMIT
    assert len(fitted.encode()) <= LIMIT
    data = json.loads(fitted)
    payload = data["payload"]
    assert data["type"] == "tool_result" and data["id"] == "m-1"
    assert payload["ref_id"] == "call-7" and payload["status"] == "success"
    assert payload["result"]["width"] == 1280 and payload["result"]["height"] == 800
    assert payload["result"]["image_b64"].startswith("[409600 bytes of base64 data not sent")
    assert payload["truncated"] == ["result.image_b64"]


def test_long_text_keeps_its_beginning_and_end() -> None:
    lines = [f"line {i:06d} " + "ü" * 40 for i in range(8000)]  # ~ 700 KB of UTF-8 with multibyte characters
    stdout = "\n".join(lines)
    text = envelope({"tool": "execute_cli", "stdout": stdout, "stderr": "small"})
    fitted, size = fit_envelope(text, LIMIT)
    assert size > LIMIT >= len(fitted.encode())
    assert len(fitted.encode()) > LIMIT - 4096  # cut no more than needed
    payload = json.loads(fitted)["payload"]
    assert payload["stdout"].startswith("line 000000 ") and payload["stdout"].endswith(lines[-1])
    assert "characters cut: the message was too large for the data channel" in payload["stdout"]
    assert payload["stderr"] == "small" and payload["truncated"] == ["stdout"]


def test_several_large_strings_are_cut_to_a_common_length() -> None:
    text = envelope({"a": "x" * 300_000, "b": "y" * 200_000, "c": "v" * 20_000, "nested": [{"d": "z" * 100}]})
    fitted, _ = fit_envelope(text, LIMIT)
    payload = json.loads(fitted)["payload"]
    assert LIMIT - 4096 < len(fitted.encode()) <= LIMIT
    assert payload["truncated"] == ["a", "b"]
    assert abs(len(payload["a"]) - len(payload["b"])) < 10  # both keep about as much
    assert payload["c"] == "v" * 20_000 and payload["nested"] == [{"d": "z" * 100}]


def test_what_cannot_be_cut_becomes_an_error_with_the_same_ref_id() -> None:
    many = envelope({"ref_id": "call-9", "items": ["w" * 100] * 4000})  # 4000 strings too small to cut
    fitted, size = fit_envelope(many, LIMIT)
    error = json.loads(fitted)
    assert size > LIMIT and error["type"] == "error"
    assert error["payload"]["code"] == "internal" and error["payload"]["ref_id"] == "call-9"
    assert f"tool_result message of {size} bytes was not sent" in error["payload"]["message"]
    assert str(LIMIT) in error["payload"]["message"]
    # Without a ref_id, the error refers to the message's own id.
    no_ref = envelope({"items": ["w" * 100] * 4000}, kind="agent_progress")
    assert json.loads(fit_envelope(no_ref, LIMIT)[0])["payload"]["ref_id"] == "m-1"
    not_json = "{" + "x" * LIMIT
    assert json.loads(fit_envelope(not_json, LIMIT)[0])["type"] == "error"


def test_base64_under_any_name_goes_before_text() -> None:
    blob = base64.b64encode(bytes(range(256)) * 800).decode()  # ~273 KB of base64, under a name we do not know
    log = "step done\n" * 5000  # 50 KB of text: kept whole once the blob is gone
    fitted, _ = fit_envelope(envelope({"blob": blob, "log": log}), LIMIT)
    payload = json.loads(fitted)["payload"]
    assert payload["blob"].startswith("[204800 bytes of base64 data not sent")
    assert payload["log"] == log and payload["truncated"] == ["blob"]
