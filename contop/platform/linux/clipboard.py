"""The X CLIPBOARD selection through xclip (or xsel).

Writing forks a helper that stays alive to own the selection (X has no clipboard storage), so the helper gets no
pipe of ours to hold open: stdout/stderr go to /dev/null and it runs in its own session. The write is confirmed by
reading back until the new owner answers, because the helper takes ownership after the parent has exited.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from contop.core.childenv import child_env
from contop.core.errors import NotAvailableError, ToolError

READ_TIMEOUT_S = 3.0
SETTLE_TIMEOUT_S = 2.0


def clipboard_failure(tool: str, display: str, stderr: str) -> str:
    """What a failed read means (pure): "" when nobody owns the clipboard or it holds no text (xclip: "target
    STRING not available"); any other failure, such as a display that cannot be opened, is raised so that it is
    not reported as an empty clipboard."""
    reason = " ".join(stderr.split())
    if "not available" in reason.lower():
        return ""
    if "open display" in reason.lower():
        raise NotAvailableError(f"the X display {display!r} cannot be reached: {tool} says {reason!r}")
    raise ToolError(f"reading the clipboard failed: {tool} says {reason or 'nothing'!r}")


class XClipboard:
    def __init__(self, display: str) -> None:
        self._display = display
        self._xclip = shutil.which("xclip")
        self._xsel = shutil.which("xsel")

    def _env(self) -> dict[str, str]:
        # xclip stays running as the selection's owner: it gets no more of the server's environment than a shell.
        return {**child_env(os.environ), "DISPLAY": self._display}

    def _tool(self) -> str:
        if self._xclip is None and self._xsel is None:
            raise NotAvailableError("the clipboard needs xclip or xsel: install the xclip package")
        return "xclip" if self._xclip else "xsel"

    def read(self) -> str:
        tool = self._tool()
        argv = (
            [self._xclip or "xclip", "-selection", "clipboard", "-o"]
            if tool == "xclip"
            else [self._xsel or "xsel", "--clipboard", "--output"]
        )
        try:
            proc = subprocess.run(
                argv,
                env=self._env(),
                capture_output=True,
                timeout=READ_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError("reading the clipboard timed out (the owning application does not answer)") from exc
        if proc.returncode != 0:
            return clipboard_failure(tool, self._display, proc.stderr.decode("utf-8", "replace"))
        return proc.stdout.decode("utf-8", "replace")

    def write(self, text: str) -> None:
        tool = self._tool()
        argv = (
            [self._xclip or "xclip", "-selection", "clipboard", "-i"]
            if tool == "xclip"
            else [self._xsel or "xsel", "--clipboard", "--input"]
        )
        try:
            subprocess.run(
                argv,
                input=text.encode("utf-8"),
                env=self._env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                timeout=READ_TIMEOUT_S,
                check=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"{tool} did not take the clipboard text in time") from exc
        except subprocess.CalledProcessError as exc:
            raise ToolError(f"{tool} failed to set the clipboard (exit {exc.returncode})") from exc
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self.read() != text:
            if time.monotonic() > deadline:
                raise ToolError("the clipboard did not take the new text")
            time.sleep(0.01)
