"""The server's side of cli_proxy: model routing, no images for proxied models, the models the phone is told of."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai.messages import BinaryContent, ModelRequest, UserPromptPart

from contop.agent.context import NO_VISION_NOTE, prepare_messages
from contop.agent.models import build_model, resolve_model
from contop.core.settings import Settings
from contop.server.proxy_status import phone_models, provider_health
from tests.proxy.proxyproc import ProxyProcess, free_port

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def proxied(url: str = "") -> Settings:
    return Settings.model_validate(
        {"provider_auth": {"anthropic": {"mode": "cli_proxy", "proxy_url": url}}, "execution_model": "claude:claude-x"}
    )


def test_cli_proxy_routes_to_the_proxy_without_vision() -> None:
    spec = resolve_model(proxied(), {"ANTHROPIC_API_KEY": "sk-should-not-be-used"})
    assert spec is not None and spec.via_proxy and not spec.vision
    assert spec.base_url == "http://127.0.0.1:3456/v1" and spec.api_key == ""
    assert spec.backend == "cli_proxy"
    model = build_model(spec)
    assert type(model).__name__ == "OpenAIChatModel"
    assert str(model.base_url).rstrip("/") == "http://127.0.0.1:3456/v1"
    custom = resolve_model(proxied("http://127.0.0.1:4000"), {})
    assert custom is not None and custom.base_url == "http://127.0.0.1:4000/v1"
    plain = resolve_model(Settings(), {"ANTHROPIC_API_KEY": "k"})
    assert plain is not None and plain.vision


def test_images_never_reach_a_model_without_vision() -> None:
    messages = [ModelRequest(parts=[UserPromptPart(content=["look", BinaryContent(data=PNG, media_type="image/png")])])]
    stripped = prepare_messages(list(messages), 100_000, vision=False)
    content = stripped[0].parts[0].content  # type: ignore[union-attr]
    assert content == ["look", NO_VISION_NOTE]
    kept = prepare_messages(list(messages), 100_000)
    assert isinstance(kept[0].parts[0].content[1], BinaryContent)  # type: ignore[union-attr,index]


def test_phone_models_say_no_vision() -> None:
    models = phone_models(proxied(), {})
    assert models[0] == {
        "id": "anthropic:claude-x",
        "label": "anthropic:claude-x via subscription proxy",
        "vision": False,
    }
    assert {"id": "anthropic:claude-sonnet-4-5", "vision": False}.items() <= models[1].items()
    assert phone_models(Settings(), {"GEMINI_API_KEY": "k"})[0]["vision"] is True


@pytest.mark.timeout(60)
async def test_provider_health(tmp_path: Path) -> None:
    down = await provider_health(proxied(f"http://127.0.0.1:{free_port()}/v1"), "anthropic")
    assert down["status"] == "unreachable" and "contop proxy anthropic" in down["error"]
    proxy = ProxyProcess(tmp_path, "anthropic").start()
    try:
        ok = await provider_health(proxied(proxy.url), "anthropic")
        assert ok["status"] == "ok" and ok["auth_type"] == "cli_proxy" and ok["models"]
        (proxy.bin / "claude").unlink()
        missing = await provider_health(proxied(proxy.url), "anthropic")
        assert missing["status"] == "error" and "npm install" in missing["error"]
    finally:
        proxy.stop()
    assert (await provider_health(Settings(), "gemini"))["auth_type"] == "api_key"
