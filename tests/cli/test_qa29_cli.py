"""``contop classify --jsonl`` answers every input line, and ``contop doctor`` fails (exit 1) when a required check
does, as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(120)]


def test_classify_answers_a_blank_line_so_answers_stay_in_step(tmp_path: Path) -> None:
    lines = [json.dumps({"command": "ls"}), "", "   ", "{not json", json.dumps({"command": "rm -rf /"})]
    env = {**os.environ, "HOME": str(tmp_path), "CONTOP_HOME": str(tmp_path / ".contop")}
    out = subprocess.run(
        [sys.executable, "-m", "contop", "classify", "--jsonl"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(answers) == len(lines), answers
    assert answers[0]["decision"] == "safe" and "error" not in answers[0]
    for blank in answers[1:3]:  # the same shape as the answer to a line that is not JSON
        assert blank["decision"] == "block" and blank["error"] == "empty line: each line must be a JSON object"
        assert set(blank) == set(answers[3])
    assert answers[3]["error"].startswith("invalid JSON")
    assert answers[4]["decision"] == "block" and "error" not in answers[4]


def doctor(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    env.pop("DISPLAY", None)  # an optional capability missing must not fail it
    return subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--home", str(home), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_doctor_exits_1_when_a_required_check_fails(tmp_path: Path) -> None:
    invalid = tmp_path / "invalid"
    invalid.mkdir()
    (invalid / "settings.json").write_text('{"video_fps": "x"}')
    out = doctor(invalid)
    assert out.returncode == 1, out.stdout
    assert out.stdout.rstrip().splitlines()[-1] == (
        "✘ required: settings must be fixed before `contop serve` runs as configured (exit status 1)"
    )

    fine = doctor(tmp_path / "fresh")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "✘ display" in fine.stdout and "✘ models" in fine.stdout  # optional, or set up later
    assert fine.stdout.rstrip().splitlines()[-1].startswith("✔ required: state dir, settings are fine"), fine.stdout

    a_file = tmp_path / "a-file"
    a_file.write_text("notes\n")
    out = doctor(a_file)
    assert out.returncode == 1 and "✘ required: state dir" in out.stdout, out.stdout

    report = doctor(invalid, "--json")  # the report is the output: a program reads "required" and "level"
    assert report.returncode == 0, report.stderr
    checks = {c["name"]: c for c in json.loads(report.stdout)}
    assert checks["settings"]["required"] is True and checks["settings"]["level"] == "missing"
    assert checks["display"]["required"] is False and checks["models"]["required"] is False


def test_doctor_summary_does_not_call_a_warned_state_dir_fine(tmp_path: Path) -> None:
    home = tmp_path / "open"
    home.mkdir()
    home.chmod(0o755)  # readable by others: usable, with a warning
    out = doctor(home)
    assert out.returncode == 0, out.stdout
    assert "! state dir" in out.stdout, out.stdout
    summary = out.stdout.rstrip().splitlines()[-1]
    assert summary.startswith("✔ required: state dir, settings work (see the warning for state dir)"), summary
