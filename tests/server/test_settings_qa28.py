"""What QA found in the settings routes and the state directory: a reset under the Away Mode lock, PIN hashes our
own PIN route would never make, and secret files left readable by others across a restart. A real ``contop serve``;
the lock is a real lock screen on a real X server."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path

import bcrypt
import pytest

from contop.testing.server import ServerProcess
from tests.server.test_away_http import overlay_pids, server, wait_for, xsession  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.x11
def test_a_reset_is_refused_while_the_desk_is_locked(server: ServerProcess) -> None:
    assert server.request("POST", "/api/away-mode/pin", json={"pin": "8642", "emergency_pin": "11223344"}).is_success
    assert server.request("POST", "/api/away-mode/engage").json()["overlay_active"] is True

    refused = server.request("POST", "/api/settings/reset")
    assert refused.status_code == 409, refused.text
    assert "disengage it before resetting the settings" in refused.json()["detail"]
    status = server.request("GET", "/api/away-mode/status").json()
    assert status["away_mode"] and status["pin_set"] and status["emergency_pin_set"]
    assert json.loads((server.home / "settings.json").read_text())["away_mode"]["pin_hash"]

    assert server.request("POST", "/api/away-mode/disengage").json()["away_mode"] is False
    wait_for(lambda: not overlay_pids(server))
    assert server.request("POST", "/api/settings/reset").status_code == 200  # unlocked: allowed
    assert server.request("GET", "/api/away-mode/status").json()["pin_set"] is False


def _hash(pin: bytes, cost: int, prefix: bytes = b"2b") -> str:
    return bcrypt.hashpw(pin, bcrypt.gensalt(cost, prefix)).decode()


def test_only_hashes_our_pin_route_makes_are_accepted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServerProcess(home) as srv:
        settings = srv.request("GET", "/api/settings").json()
        ours = _hash(b"2468", 10)  # as POST /api/away-mode/pin makes them
        unopenable_salt = ours[:28] + "z" + ours[29:]  # bcrypt refuses this salt: no PIN ever matches
        never_matches = ours[:-1] + "z"  # no bcrypt ever ends a hash so: no PIN ever matches
        for foreign in (_hash(b"2468", 4), _hash(b"2468", 12), _hash(b"2468", 10, b"2a"), unopenable_salt):
            for key in ("pin_hash", "emergency_pin_hash"):
                made_up = copy.deepcopy(settings)
                made_up["away_mode"][key] = foreign
                refused = srv.request("PUT", "/api/settings", json=made_up)
                assert refused.status_code == 422, (foreign, refused.text)
                assert f"away_mode.{key}" in refused.json()["detail"]
        made_up = copy.deepcopy(settings)
        made_up["away_mode"]["pin_hash"] = never_matches
        assert srv.request("PUT", "/api/settings", json=made_up).status_code == 422
        assert srv.request("GET", "/api/away-mode/status").json()["pin_set"] is False

        made_up["away_mode"]["pin_hash"] = ours
        assert srv.request("PUT", "/api/settings", json=made_up).status_code == 200
        assert srv.request("GET", "/api/settings").json()["away_mode"]["pin_hash"] == ours

    # A hash written into settings.json by hand stays usable: saving the other settings around it is not refused.
    by_hand = json.loads((home / "settings.json").read_text())
    by_hand["away_mode"]["pin_hash"] = _hash(b"2468", 12)
    (home / "settings.json").write_text(json.dumps(by_hand))
    with ServerProcess(home) as srv:
        settings = srv.request("GET", "/api/settings").json()
        settings["video_fps"] = 20
        assert srv.request("PUT", "/api/settings", json=settings).status_code == 200


def test_secret_files_loosened_by_hand_are_private_again_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServerProcess(home) as srv:
        assert srv.request("POST", "/api/pair").status_code == 200  # tokens.json holds a pairing token
    secrets = ("admin.token", "tokens.json", "dtls/key.pem", "dtls/cert.pem")
    for name in secrets:
        (home / name).chmod(0o644)
    with ServerProcess(home) as srv:
        assert {name: oct(mode(home / name)) for name in secrets} == dict.fromkeys(secrets, oct(0o600))
        assert "key.pem" not in srv.log() and "Traceback" not in srv.log()  # put right quietly, as admin.token is
