"""The phone web app as static files, with cache headers that let an installed app pick up a new version."""

from __future__ import annotations

from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

# The service worker and the page that registers it must be revalidated on every load; the rest may be cached
# by the worker (it serves the shell network-first).
_REVALIDATE = {"sw.js", "index.html", "", ".", "manifest.webmanifest"}


class PhoneApp(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path.strip("/") in _REVALIDATE or path.endswith("/"):
            response.headers["Cache-Control"] = "no-cache"
        return response
