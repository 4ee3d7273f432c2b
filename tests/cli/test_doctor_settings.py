"""`contop doctor` on an invalid settings.json: it says the file is invalid and that the server would move it aside
(losing the keys it holds), instead of judging the models as if the file were empty; it never changes the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess


def doctor_checks(home: Path, text: str) -> dict[str, dict[str, str]]:
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    env["CONTOP_HOME"] = str(home)
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json"], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    return {c["name"]: c for c in json.loads(out.stdout)}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"gemini_api_key": "AIza-kept", "execution_model": "gemini:gemini-2.5-flash",}', "not valid JSON"),
        ('{"gemini_api_key": "AIza-kept", "video_fps": "x"}', "video_fps"),
        ('["gemini_api_key", "AIza-kept"]', "JSON object"),
        ('{"gemini_api_key": "AIza-kept", "x": ' + "[" * 100000, "nested too deeply"),
    ],
)
def test_an_invalid_settings_file_is_reported_not_taken_for_empty(tmp_path: Path, text: str, problem: str) -> None:
    home = tmp_path / "home"
    checks = doctor_checks(home, text)
    settings, models = checks["settings"], checks["models"]
    assert settings["level"] == "missing" and "is invalid" in settings["detail"], settings
    assert problem in settings["detail"], settings
    assert "settings.json.corrupt-<time>" in settings["advice"] and "fix it before" in settings["advice"], settings
    assert models["level"] == "missing" and "invalid" in models["detail"], models
    assert "add an API key" not in models["advice"], models
    assert "AIza-kept" not in json.dumps(checks)
    assert (home / "settings.json").read_text() == text  # doctor never moves or rewrites it
    assert sorted(p.name for p in home.iterdir()) == ["settings.json"]


def test_a_valid_or_missing_settings_file_is_fine(tmp_path: Path) -> None:
    home = tmp_path / "home"
    checks = doctor_checks(home, '{"gemini_api_key": "AIza-kept"}')
    assert checks["settings"]["level"] == "ok" and "is valid" in checks["settings"]["detail"]
    assert checks["models"]["level"] == "ok" and "gemini" in checks["models"]["detail"]
    (home / "settings.json").unlink()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json", "--home", str(home)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    settings = {c["name"]: c for c in json.loads(out.stdout)}["settings"]
    assert settings["level"] == "ok" and "writes the defaults" in settings["detail"], settings
    assert not (home / "settings.json").exists()


def test_a_stun_turn_server_the_api_would_refuse_is_reported(tmp_path: Path) -> None:
    """The server starts with such an entry (it leaves it out), but refuses every settings save until it is fixed:
    doctor says so, in the words of the refusal, instead of calling the file valid."""
    entries = [
        ({"urls": "turn:turn.example.com:3478"}, "ice_servers.0: a TURN server needs a username and a credential"),
        ({"urls": "http://foo"}, "ice_servers.0: urls: 'http://foo' is not a STUN/TURN URL"),
        ({"urls": []}, "ice_servers.0: urls is empty"),
    ]
    home = tmp_path / "home"
    with ServerProcess(home) as server:
        for entry, problem in entries:
            data = {**server.request("GET", "/api/settings").json(), "ice_servers": [entry]}
            refused = server.request("PUT", "/api/settings", json=data)
            assert refused.status_code == 422 and refused.json()["detail"].startswith(problem), refused.text
            settings = doctor_checks(home, json.dumps(data))["settings"]
            assert settings["level"] == "missing" and problem in settings["detail"], settings
            assert "settings save" in settings["detail"] and "ice_servers entry" in settings["advice"], settings


def doctor_on(home: Path) -> dict[str, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json", "--home", str(home)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return {c["name"]: c for c in json.loads(out.stdout)}


def test_a_state_directory_the_server_would_refuse_is_named_with_why(tmp_path: Path) -> None:
    """`contop serve` refuses these; doctor said only that settings.json could not be read (or nothing at all)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("notes\n")
    check = doctor_on(a_file)["state dir"]
    assert check["level"] == "missing" and "must be a folder" in check["detail"], check
    assert "will not start" in check["advice"], check

    foreign = tmp_path / "projects"
    (foreign / "thesis").mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine\n")
    check = doctor_on(foreign)["state dir"]
    assert check["level"] == "missing" and "already holds other things (notes.txt, thesis)" in check["detail"], check

    below_a_file = a_file / "home"
    check = doctor_on(below_a_file)["state dir"]
    assert check["level"] == "missing" and str(a_file) in check["detail"], check

    fresh = tmp_path / "new-home"
    assert doctor_on(fresh)["state dir"]["level"] == "ok" and not fresh.exists()  # doctor creates nothing

    used = tmp_path / "used"
    ServerProcess(used).start().stop()
    assert doctor_on(used)["state dir"]["level"] == "ok"
    used.chmod(0o755)
    check = doctor_on(used)["state dir"]
    assert check["level"] == "warn" and "0755" in check["detail"], check
