"""``PUT /api/settings`` keeps to the Away Mode PIN rules of ``/api/away-mode/pin``: a real server on a real X
server, engaged with a real lock screen."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import copy

import pytest

from contop.testing.server import ServerProcess
from tests.server.test_away_http import overlay_pids, server, wait_for, xsession  # noqa: F401 - fixtures

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


def test_the_pins_cannot_be_removed_or_made_up_through_the_settings(server: ServerProcess) -> None:
    assert server.request("POST", "/api/away-mode/pin", json={"pin": "8642", "emergency_pin": "11223344"}).is_success
    settings = server.request("GET", "/api/settings").json()

    made_up = copy.deepcopy(settings)
    made_up["away_mode"]["pin_hash"] = "1234"  # no PIN matches this: the desk could never be unlocked
    refused = server.request("PUT", "/api/settings", json=made_up)
    assert refused.status_code == 422 and "POST /api/away-mode/pin" in refused.json()["detail"], refused.text

    assert server.request("POST", "/api/away-mode/engage").json()["overlay_active"] is True
    cleared = copy.deepcopy(settings)
    cleared["away_mode"]["pin_hash"] = cleared["away_mode"]["emergency_pin_hash"] = ""
    refused = server.request("PUT", "/api/settings", json=cleared)
    assert refused.status_code == 409 and "disengage it before removing the PINs" in refused.json()["detail"]
    left_out = {k: v for k, v in settings.items() if k != "away_mode"}
    assert server.request("PUT", "/api/settings", json=left_out).status_code == 409
    status = server.request("GET", "/api/away-mode/status").json()
    assert status["pin_set"] and status["emergency_pin_set"] and status["away_mode"]

    settings["video_fps"] = 20  # the desktop app's round trip keeps the hashes as they are: saved
    assert server.request("PUT", "/api/settings", json=settings).status_code == 200

    assert server.request("POST", "/api/away-mode/disengage").json()["away_mode"] is False
    wait_for(lambda: not overlay_pids(server))
    assert server.request("PUT", "/api/settings", json=cleared).status_code == 200  # unlocked: allowed
    assert server.request("GET", "/api/away-mode/status").json()["pin_set"] is False
