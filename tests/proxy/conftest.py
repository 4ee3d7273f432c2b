"""Fixtures of the proxy tests: real ``contop proxy`` processes over fake CLIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proxy.proxyproc import ProxyProcess


@pytest.fixture
def make_proxy(tmp_path: Path) -> Iterator[Any]:
    started: list[ProxyProcess] = []

    def make(provider: str = "anthropic", args: list[str] | None = None, steps: Any = None) -> ProxyProcess:
        proxy = ProxyProcess(tmp_path / f"{provider}-{len(started)}", provider, args=args)
        if steps is not None:
            proxy.steps(steps)
        started.append(proxy.start())
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
