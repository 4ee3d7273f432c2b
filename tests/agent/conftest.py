"""Fixtures for the agent: a real state dir, real tools and gate, the scripted model, recorded events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contop.agent.events import RecordingEvents
from contop.agent.history import SessionStore
from contop.agent.run import AgentService, Limits
from contop.core.settings import Settings, default_settings
from contop.security.audit import AuditLog
from contop.security.enforce import ConfirmationRequest
from contop.testing.server import ServerProcess


class FakeConfirmer:
    """Answers every request with ``answer`` and remembers the requests."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.requests: list[ConfirmationRequest] = []

    async def confirm(self, request: ConfirmationRequest) -> bool:
        self.requests.append(request)
        return self.answer


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.work = root / "work"
        self.state.mkdir()
        self.work.mkdir()
        self.settings: Settings = default_settings(str(self.state))
        self.env: dict[str, str] = {}
        self.record = root / "received.jsonl"
        self.store: SessionStore | None = None
        self.audit: AuditLog | None = None

    def script(self, items: list[dict[str, Any]], name: str = "script.json") -> Path:
        path = self.root / name
        path.write_text(json.dumps(items), encoding="utf-8")
        self.settings = self.settings.model_copy(update={"execution_model": f"scripted:{path}"})
        return path

    def service(self, *, limits: Limits | None = None, store: bool = True, **kwargs: Any) -> AgentService:
        self.env.setdefault("CONTOP_SCRIPTED_RECORD", str(self.record))
        if store and self.store is None:
            self.store = SessionStore(self.state / "data" / "sessions.db")
            self.store.open()
        if self.audit is None:
            self.audit = AuditLog(self.state / "logs")
        return AgentService(
            state_dir=self.state,
            settings=lambda: self.settings,
            env=self.env,
            audit=self.audit,
            store=self.store if store else None,
            limits=limits or Limits(),
            **kwargs,
        )

    def received(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


@pytest.fixture
async def env(tmp_path: Path) -> Any:
    e = Env(tmp_path)
    yield e
    e.close()
    if e.audit is not None:
        await e.audit.aclose()


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


async def run_intent(
    service: AgentService,
    text: str,
    events: RecordingEvents,
    *,
    confirmer: Any = None,
    session_id: str | None = None,
    device_id: str = "dev1",
    **kwargs: Any,
) -> Any:
    execution = service.start(
        text, device_id=device_id, events=events, confirmer=confirmer, session_id=session_id, **kwargs
    )
    return await execution


Factory = Callable[..., AgentService]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``contop serve`` per test module, for the skills' HTTP API."""
    proc = ServerProcess(tmp_path_factory.mktemp("skills") / "home").start(timeout=60)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """An admin HTTP client of ``server``."""
    with httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=30) as client:
        yield client
