"""`contop doctor` judges the execution model the server would use, not only whether one is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def doctor_models(home: Path, settings: dict[str, object], **env: str) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(json.dumps(settings))
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    full_env.update(env, CONTOP_HOME=str(home))
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json"], capture_output=True, text=True, timeout=60, env=full_env
    )
    assert out.returncode == 0, out.stderr
    return next(c for c in json.loads(out.stdout) if c["name"] == "models")


def test_an_invalid_execution_model_is_a_problem(tmp_path: Path) -> None:
    models = doctor_models(tmp_path / "home", {"execution_model": "bogus:thing"})
    assert models["level"] == "missing"
    assert "'bogus:thing' is not valid" in models["detail"]
    assert "'provider:model'" in models["advice"]


def test_the_environment_override_is_judged_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models = doctor_models(home, {"execution_model": "gemini:gemini-2.5-pro"}, CONTOP_EXECUTION_MODEL="nonsense")
    assert models["level"] == "missing" and "$CONTOP_EXECUTION_MODEL 'nonsense'" in models["detail"]
    models = doctor_models(home, {"execution_model": "bogus:thing"}, CONTOP_EXECUTION_MODEL="anthropic:claude-x")
    assert models["level"] == "ok" and "anthropic:claude-x (from $CONTOP_EXECUTION_MODEL)" in models["detail"]


def test_a_local_model_needs_its_server_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models = doctor_models(home, {"execution_model": "openai-compatible:llama3.1"})
    assert models["level"] == "missing" and "local_model_base_url is empty" in models["detail"]
    models = doctor_models(
        home,
        {"execution_model": "openai-compatible:llama3.1", "local_model_base_url": "http://127.0.0.1:11434/v1"},
    )
    assert models["level"] == "ok" and "execution_model=openai-compatible:llama3.1" in models["detail"]
