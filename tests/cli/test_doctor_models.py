"""`contop doctor` judges the execution model the server would use, not only whether one is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def doctor(home: Path, settings: dict[str, object], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(json.dumps(settings))
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    full_env.update(env, CONTOP_HOME=str(home))
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", *args], capture_output=True, text=True, timeout=60, env=full_env
    )
    assert out.returncode == 0, out.stderr
    return out


def doctor_models(home: Path, settings: dict[str, object], **env: str) -> dict[str, str]:
    out = doctor(home, settings, "--json", **env)
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
    models = doctor_models(
        home, {"execution_model": "bogus:thing"}, CONTOP_EXECUTION_MODEL="anthropic:claude-x", ANTHROPIC_API_KEY="k"
    )
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


def test_a_provider_without_its_key_is_a_problem(tmp_path: Path) -> None:
    """The run would fail at its first request: doctor names the missing key and where to put it."""
    home = tmp_path / "home"
    for provider, key, var in (
        ("gemini", "gemini_api_key", "GEMINI_API_KEY"),
        ("openai", "openai_api_key", "OPENAI_API_KEY"),
        ("anthropic", "anthropic_api_key", "ANTHROPIC_API_KEY"),
        ("openrouter", "openrouter_api_key", "OPENROUTER_API_KEY"),
    ):
        chosen = {"execution_model": f"{provider}:some-model"}
        models = doctor_models(home, chosen)
        assert models["level"] == "missing", models
        assert f"no {provider} API key" in models["detail"] and var in models["detail"], models
        assert f"settings.json as {key}" in models["advice"] and var in models["advice"], models
        assert doctor_models(home, {**chosen, key: "sk-in-the-file"})["level"] == "ok"
        assert doctor_models(home, chosen, **{var: "sk-from-env"})["level"] == "ok"
        from_env = doctor_models(home, {}, CONTOP_EXECUTION_MODEL=f"{provider}:some-model")
        assert from_env["level"] == "missing" and "$CONTOP_EXECUTION_MODEL" in from_env["detail"], from_env
    proxied = {"execution_model": "gemini:gemini-2.5-flash", "provider_auth": {"gemini": {"mode": "cli_proxy"}}}
    assert doctor_models(home, proxied)["level"] == "ok"  # the subscription proxy needs no key
    human = doctor(home, {"execution_model": "gemini:gemini-2.5-flash"}).stdout
    assert "✘ models" in human and "no gemini API key" in human, human


def test_the_scripted_model_is_labelled_and_its_file_checked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = doctor_models(home, {"execution_model": "scripted:/nonexistent.json"})
    assert missing["level"] == "missing", missing
    assert "scripted:/nonexistent.json (test model)" in missing["detail"] and "cannot read" in missing["detail"]
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    models = doctor_models(home, {"execution_model": f"scripted:{broken}"})
    assert models["level"] == "missing" and "not valid JSON" in models["detail"], models
    broken.write_text('{"text": "not a list"}')
    models = doctor_models(home, {"execution_model": f"scripted:{broken}"})
    assert models["level"] == "missing" and "a script is a JSON list" in models["detail"], models
    script = tmp_path / "demo.json"
    script.write_text('[{"thinking": "hm"}, {"text": "done"}]')
    models = doctor_models(home, {"execution_model": f"scripted:{script}"})
    assert models["level"] == "ok" and f"scripted:{script} (test model" in models["detail"], models
    models = doctor_models(home, {}, CONTOP_EXECUTION_MODEL=f"scripted:{script}")
    assert models["level"] == "ok" and "(test model" in models["detail"], models
