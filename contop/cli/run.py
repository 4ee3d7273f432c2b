"""``contop run``: connect like a phone over WebRTC, send one intent (or one ``tool_call``) and print what comes back.

Exit codes: 0 on ``agent_result`` (or a successful ``tool_result``), 1 when the server answers with an error,
the tool fails or no result came in time, 2 for bad arguments, 3 when the connection cannot be made.

Without ``--pair`` each invocation is its own temporary device (``contop-run-<pid>``, named "contop run"), paired
through the local server's admin API and revoked when it ends: runs at the same time do not replace each other's
connection, and no device is left behind (a temporary code is never written to ``tokens.json``). A ``--pair`` code
belongs to the first device that uses it, so every run given one is the device ``contop-run``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from contop.cli.common import add_home_argument, admin_address, port_type, state_dir_from

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECT = 0, 1, 2, 3
SERVER_SILENCE_S = 10.0  # the server sends a keepalive every 2 s: five missed, and the desktop is taken for gone
RUN_DEVICE_ID = "contop-run"  # the device that claims a --pair code (the same for every run given that code)
STOP_WAIT_S = 5.0  # after --timeout: how long to wait for the stopped run's own result

# What a human sees for each progress message (``--json`` prints the messages themselves).
_PROGRESS_TYPES = ("agent_progress", "agent_thinking", "agent_text", "agent_status", "tool_result", "security_alert")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="connect like the phone and send one intent (or one tool call)",
        description="Connect to a Contop server over WebRTC like the phone does, send TEXT as a user_intent and "
        "print the progress until the agent's result. With --tool, send one tool_call instead.",
    )
    p.add_argument("text", nargs="?", metavar="TEXT", help="what the agent should do")
    p.add_argument("--pair", metavar="URL", help="pairing URL (default: $CONTOP_PAIR_URL, else ask the local server)")
    p.add_argument("--json", action="store_true", help="print every received message as one JSON object per line")
    p.add_argument("--tool", metavar="NAME", help="send a tool_call for this tool instead of an intent")
    p.add_argument("--args", metavar="JSON", default="{}", help="the tool's arguments as a JSON object")
    p.add_argument("--timeout", type=_seconds, default=600.0, help="seconds to wait for the result (default 600)")
    p.add_argument("--port", type=port_type, help="local server port when asking it for a pairing code")
    add_home_argument(p)
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    if bool(args.text) == bool(args.tool):
        print("contop run: give either TEXT or --tool NAME", file=sys.stderr)
        return EXIT_USAGE
    try:
        tool_args = json.loads(args.args)
    except ValueError as exc:
        print(f"contop run: --args is not valid JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(tool_args, dict):
        print("contop run: --args must be a JSON object", file=sys.stderr)
        return EXIT_USAGE
    given = args.pair or os.environ.get("CONTOP_PAIR_URL")
    local = None if given else _ask_local_server(args)
    if local is None and not given:
        return EXIT_CONNECT
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    stopped_by: list[int] = []

    def stop_like_ctrl_c(signum: int, _frame: Any) -> None:
        """Outside the event loop (asking the local server for a code, revoking it at the end) SIGTERM (timeout,
        systemd, CI) and SIGHUP end the run as Ctrl-C does; inside it ``_stop_on_signals`` ends it."""
        stopped_by.append(signum)
        if len(stopped_by) == 1:
            raise KeyboardInterrupt

    caught = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]  # no SIGHUP on Windows
    previous = {sig: signal.signal(sig, stop_like_ctrl_c) for sig in caught}
    try:
        if local is not None:
            session = functools.partial(_session, local.url, local.device_id, args, tool_args, local=True)
        else:
            assert given is not None
            session = functools.partial(_session, given, RUN_DEVICE_ID, args, tool_args, local=False)
        return asyncio.run(_stop_on_signals(session))
    except KeyboardInterrupt:
        return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
    finally:
        if local is not None:
            for sig in previous:  # a signal now must not cut the revocation short (it takes at most 3 s)
                signal.signal(sig, lambda signum, _frame: stopped_by.append(signum))
            local.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _stop_on_signals(session: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run ``session`` until it ends or Ctrl-C, SIGTERM or SIGHUP arrives, which cancel it: what it started on the
    desktop is stopped and its connection closed (``client.aclose()``, awaited) before the loop ends. A signal
    turned into ``KeyboardInterrupt`` instead hit whatever code ran at that moment, a task of aiortc's among them,
    and left tasks pending or failed when the loop closed. The exit status is 128 + the signal's number.

    SIGINT is left alone when it is ignored: a job a shell starts with '&' ignores it, and Ctrl-C at that terminal
    is not meant for it (SIGTERM still ends it)."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[int] = loop.create_future()
    wanted = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    installed: dict[int, Any] = {}

    def note(signum: int) -> None:
        if received.done():  # a second signal: the user will not wait for the cleanup
            work.cancel()
        else:
            received.set_result(signum)

    for sig in wanted:
        before = signal.getsignal(sig)
        if sig == signal.SIGINT and before is signal.SIG_IGN:
            continue
        try:
            loop.add_signal_handler(sig, note, sig)
        except (NotImplementedError, RuntimeError):  # Windows: the handlers of run() raise KeyboardInterrupt
            continue
        installed[sig] = before
    work = asyncio.ensure_future(session())
    try:
        await asyncio.wait({work, received}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            return work.result()
        work.cancel()
        await asyncio.wait({work})  # its cleanup: the call stopped, the client closed
        return 128 + received.result()
    finally:
        if not work.done():  # this coroutine was cancelled itself
            work.cancel()
            await asyncio.wait({work})
        for sig, before in installed.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, before)
        received.cancel()


@dataclass(frozen=True, slots=True)
class _LocalPairing:
    """A temporary code the local server issued for this invocation's own device."""

    url: str
    device_id: str
    where: str  # the server's loopback host:port
    admin_token: str

    def release(self) -> None:
        """Revoke the device: its connection and anything still running for it end, and the desktop's device
        list does not keep one entry per run for the code's 4 hours."""
        try:
            httpx.delete(
                f"http://{self.where}/api/pair",
                params={"device_id": self.device_id},
                headers={"Authorization": f"Bearer {self.admin_token}"},
                timeout=3,  # the server is on this computer; one that stopped answering must not hold the exit up
                trust_env=False,  # straight to the local server: an HTTP_PROXY in the environment never sees the token
            )
        except httpx.HTTPError as exc:
            logging.getLogger("contop.run").info("could not revoke %s: %s", self.device_id, exc)


def _ask_local_server(args: argparse.Namespace) -> _LocalPairing | None:
    """A temporary pairing code from the local server, bound to a device id of this invocation (admin API)."""
    state_dir = state_dir_from(args.home, os.environ)
    try:
        admin_token = state_dir.admin_token.read_text(encoding="ascii").strip()
    except OSError:
        print(
            f"contop run: no admin token in {state_dir.root}: start the server first (`contop serve`, with the "
            "same --home), or pass --pair URL (or set CONTOP_PAIR_URL) to use another one",
            file=sys.stderr,
        )
        return None
    found = admin_address(args.port, os.environ, state_dir)  # the port its server listens on, as contop pair
    if isinstance(found, str):
        print(f"contop run: {found}", file=sys.stderr)
        return None
    where = found.where
    device_id = f"{RUN_DEVICE_ID}-{os.getpid()}"
    try:
        response = httpx.post(
            f"http://{where}/api/pair",
            params={"connection_type": "temp", "device_id": device_id},
            headers={"Authorization": f"Bearer {admin_token}", "Accept": "application/json"},
            timeout=10,
            trust_env=False,  # straight to the local server: an HTTP_PROXY from the environment never sees the token
        )
    except httpx.HTTPError as exc:
        detail = str(exc).replace(admin_token, "[REDACTED]") if admin_token else str(exc)  # httpx quotes bad headers
        print(
            f"contop run: the Contop server using {state_dir.root} did not answer on {where}: {detail}", file=sys.stderr
        )
        return None
    if response.status_code in (401, 403):  # the server read its token at start: admin.token was changed since
        print(
            f"contop run: the server refused the admin token in {state_dir.root}, which changed after it started; "
            "restart it to have it read the file again",
            file=sys.stderr,
        )
        return None
    if response.status_code != 200:
        detail = response.text[:200]
        print(f"contop run: no pairing code from the server ({response.status_code}): {detail}", file=sys.stderr)
        return None
    # This computer's own server: signal over loopback, never first through the LAN address or a tunnel
    fragment = urlsplit(str(response.json()["url"])).fragment
    return _LocalPairing(f"http://{where}/#{fragment}", device_id, where, admin_token)


async def _session(
    url: str, device_id: str, args: argparse.Namespace, tool_args: dict[str, Any], *, local: bool
) -> int:
    from contop.client import ClientError, ContopClient
    from contop.core.messages import Keepalive, ToolCall, ToolCallPayload, UserIntent, UserIntentPayload

    try:
        # The signaling socket stays open, as the phone keeps it: the desktop's close code on it says why the
        # connection ended (revoked, or taken over by another run with the same pairing URL).
        client = ContopClient(
            url,
            device_id=device_id,
            device_name="contop run",
            video=False,
            server_silence=SERVER_SILENCE_S,
            keep_signaling=True,
        )
    except ValueError as exc:
        source = "" if args.pair or local else " (from CONTOP_PAIR_URL)"
        print(f"contop run: bad pairing URL{source}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        await client.connect()
    except ClientError as exc:
        print(f"contop run: cannot connect: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    try:
        # The server first delivers what it queued for this device while no client was connected (the end of an
        # earlier `contop run` that was interrupted, say). Everything received before the answer to this
        # keepalive is such old news: skip it, so that only this run's messages are printed.
        try:
            await client.request(Keepalive(), expect_type="keepalive", timeout=10)
        except ClientError as exc:
            print(f"contop run: the server stopped answering: {exc}", file=sys.stderr)
            return EXIT_CONNECT
        skipped = client.discard_received()
        if skipped:
            logging.getLogger("contop.run").info("skipped %d messages queued before this run", skipped)
        request = (
            ToolCall(payload=ToolCallPayload(tool=args.tool, args=tool_args))
            if args.tool
            else UserIntent(payload=UserIntentPayload(text=args.text))
        )
        try:
            client.send(request)
        except ClientError as exc:  # the link dropped since connecting
            print(f"contop run: cannot send: {exc}", file=sys.stderr)
            return EXIT_CONNECT
        printer = _ProgressPrinter()
        try:
            async with asyncio.timeout(args.timeout):
                return await _follow(client, request.id, args, printer)
        except TimeoutError:
            printer.end_line()
        late = f"contop run: no result within {args.timeout:g} s"
        if args.tool and local:  # revoking this run's device (on the way out) cancels the call
            print(f"{late}; the call is stopped as this run ends", file=sys.stderr)
        elif args.tool:  # a lost connection stops an agent run, not a direct tool call
            print(f"{late}; the call goes on and may still finish on the desktop", file=sys.stderr)
        elif await _stop(client, request.id, args):
            print(f"{late}; stopped the run on the desktop", file=sys.stderr)
        else:
            print(f"{late}; asked the desktop to stop the run (it stops when this client disconnects)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await client.aclose()


async def _stop(client: Any, request_id: str, args: argparse.Namespace) -> bool:
    """Send ``execution_stop`` and wait briefly for the run's own (cancelled) result; whether it came."""
    from contop.client import ClientError
    from contop.core.messages import ExecutionStop

    try:
        client.send(ExecutionStop())
        async with asyncio.timeout(STOP_WAIT_S):
            async for message in client.messages():
                data = message.to_dict()
                if args.json:
                    print(json.dumps(data, ensure_ascii=False), flush=True)
                if message.type == "agent_result" and data["payload"].get("ref_id") == request_id:
                    return True
    except (ClientError, TimeoutError):
        pass
    return False


async def _follow(client: Any, request_id: str, args: argparse.Namespace, printer: _ProgressPrinter) -> int:
    """Print messages until the one that ends the request; returns the exit code. Approval questions are asked one
    at a time while messages keep coming: a question the desktop stopped waiting for (it expired, the run ended,
    the desktop vanished) is withdrawn instead of holding the run."""
    questions = _Questions(client, quiet=args.json)
    incoming = aiter(client.messages())
    try:
        while True:
            message = await questions.next_message(incoming)
            if message is None:
                break
            data = message.to_dict()
            payload = data["payload"]
            if args.json:
                print(json.dumps(data, ensure_ascii=False), flush=True)
            if message.type == "keepalive":
                continue
            if message.type == "agent_confirmation_request":
                questions.add(message.id, payload)
                continue
            if message.type == "agent_status" and payload.get("status_type") == "confirmation_expired":
                questions.withdraw(str(payload.get("ref_id")), str(payload.get("message") or "it expired"))
            mine = payload.get("ref_id") == request_id
            if message.type == "error" and (mine or payload.get("ref_id") is None):
                questions.close()
                if not args.json:
                    print(visible(f"error ({payload.get('code')}): {payload.get('message')}"), file=sys.stderr)
                return EXIT_FAILED
            if args.tool and message.type == "tool_result" and mine:
                questions.close()
                if not args.json:
                    _print_tool_result(payload)
                return EXIT_OK if payload.get("status") == "success" else EXIT_FAILED
            if message.type == "agent_result" and mine:
                questions.close()
                if not args.json:
                    printer.finish(str(payload.get("answer", "")))
                    status = payload.get("status")
                    if status not in (None, "completed"):  # exit 0 all the same (CONTRACTS): the answer arrived
                        print(f"contop run: the run did not complete (status: {status})", file=sys.stderr)
                return EXIT_OK
            if not args.json and message.type in _PROGRESS_TYPES:
                printer.show(message.type, payload)
    finally:
        questions.close()
    why = await _why_closed(client, shared=bool(args.pair or os.environ.get("CONTOP_PAIR_URL")))
    print(f"contop run: the connection closed before a result arrived{why}", file=sys.stderr)
    return EXIT_FAILED


# The signaling close codes that say why the desktop ended a connection (CONTRACTS §5).
CLOSE_REVOKED, CLOSE_REPLACED = 4001, 4002


async def _why_closed(client: Any, *, shared: bool) -> str:
    """Why the connection ended, as the end of a sentence: the client gave it up, or the desktop said why on the
    signaling socket (its pairing revoked or expired, or a newer connection of this device took over)."""
    if getattr(client, "lost", None):
        return f": {client.lost}"
    code, reason = await client.closed_by_server() or (None, "")
    if code == CLOSE_REVOKED:
        if "expired" in reason:
            return ": this device's pairing code expired; pair again"
        return ": this device's pairing was revoked on the desktop; pair again"
    if code == CLOSE_REPLACED:
        if shared:  # one device: a second run with the URL replaces this one
            return " (runs given the same pairing URL must take turns: another one has taken this device over)"
        return " (a newer connection of this device took over)"
    if code is None and shared:  # the desktop said nothing: perhaps replaced all the same
        return " (runs given the same pairing URL must take turns: another one may have taken this device over)"
    return ""


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` with what a terminal would act on or hide shown as escapes (``\r``, ``\x1b``, bidi overrides,
    zero-width characters): an approval question must show the whole command, not what it makes the screen show.
    ``lines``: keep line breaks (an answer's, a step's), escaping the rest; the model's text and the commands it
    runs could otherwise rewrite the terminal's line or title."""
    out = []
    for ch in text:
        if ch == "\t" or (lines and ch == "\n") or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch)
        elif ch in "\n\r":
            out.append(repr(ch)[1:-1])
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return "".join(out)


def _question(payload: dict[str, Any]) -> str:
    what = visible(str(payload.get("command") or payload.get("tool")))
    reason = visible(str(payload.get("reason") or ""))
    tool = visible(str(payload.get("tool")))
    if reason.isidentifier() and payload.get("voice_message"):  # a code ('blocked_force_host'): its sentence
        question = f"Approve {tool}: {what}? {visible(str(payload['voice_message']))}"
    else:
        question = f"Approve {tool}: {what} ({reason})?"
    timeout = payload.get("timeout_s")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        question += f" (the desktop waits {timeout:g} s)"
    return question + " [y/N] "


class _Questions:
    """The approval questions of one run, asked on the terminal one at a time (on stderr: with --json, stdout
    carries nothing but JSON lines), each answered by its request id. Without a terminal each is answered no."""

    def __init__(self, client: Any, *, quiet: bool) -> None:
        self._client = client
        self._quiet = quiet
        self._waiting: list[tuple[str, dict[str, Any]]] = []
        self._asked: tuple[str, asyncio.Task[str]] | None = None
        self._stdin: _StdinLines | None = None

    def add(self, request_id: str, payload: dict[str, Any]) -> None:
        if (self._asked and self._asked[0] == request_id) or any(rid == request_id for rid, _ in self._waiting):
            return  # asked again after a reconnect: it is already here
        if not sys.stdin.isatty():
            if not self._quiet:
                print(f"{_question(payload)}no (stdin is not a terminal)", file=sys.stderr)
            self._answer(request_id, False)
            return
        self._waiting.append((request_id, payload))
        self._ask_next()

    def withdraw(self, request_id: str, why: str) -> None:
        """The desktop no longer waits for this answer: it is not asked, or no longer."""
        self._waiting = [(rid, p) for rid, p in self._waiting if rid != request_id]
        if self._asked and self._asked[0] == request_id:
            self._asked[1].cancel()
            self._asked = None
            print(f"\n(not asked any more: {visible(why)})", file=sys.stderr, flush=True)
            self._ask_next()

    def close(self) -> None:
        """The run is over: a question still on screen gets its line ended."""
        self._waiting.clear()
        if self._asked:
            self._asked[1].cancel()
            self._asked = None
            print(file=sys.stderr, flush=True)

    async def next_message(self, incoming: AsyncIterator[Any]) -> Any:
        """The next message from the desktop (None once the connection closed), sending answers as they are
        typed meanwhile."""
        receive = asyncio.ensure_future(anext(incoming, None))
        try:
            while True:
                asked = self._asked
                wait: set[asyncio.Future[Any]] = {receive} if asked is None else {receive, asked[1]}
                await asyncio.wait(wait, return_when=asyncio.FIRST_COMPLETED)
                if asked is not None and asked[1].done() and self._asked is asked:
                    self._asked = None
                    if not asked[1].cancelled():
                        self._answer(asked[0], asked[1].result().strip().lower() in ("y", "yes"))
                    self._ask_next()
                if receive.done():
                    return receive.result()
        finally:
            if not receive.done():
                receive.cancel()

    def _ask_next(self) -> None:
        if self._asked is not None or not self._waiting:
            return
        request_id, payload = self._waiting.pop(0)
        if self._stdin is None:
            self._stdin = _StdinLines()
        self._stdin.discard()  # typed before this question: not its answer
        print(_question(payload), end="", file=sys.stderr, flush=True)
        self._asked = (request_id, asyncio.ensure_future(self._stdin.line()))

    def _answer(self, request_id: str, approved: bool) -> None:
        answer = {"approved": approved, "request_id": request_id}
        self._client.send({"type": "agent_confirmation_response", "id": f"{request_id}-answer", "payload": answer})


class _StdinLines:
    """Lines of stdin, read by one daemon thread for the whole run: a run that ends while a question waits still
    exits, and a line typed for a question that was withdrawn is not lost to a thread nobody listens to."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        threading.Thread(target=self._read, name="contop-run-answers", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                line = sys.stdin.readline()
            except (OSError, ValueError):
                line = ""
            try:
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
            except RuntimeError:  # the loop has closed: nobody waits for answers any more
                return
            if not line:  # end of input: every later question is answered "no"
                return

    def discard(self) -> None:
        while not self._lines.empty():
            if self._lines.get_nowait() == "":
                self._lines.put_nowait("")  # end of input stays the end
                return

    async def line(self) -> str:
        line = await self._lines.get()
        if line == "":
            self._lines.put_nowait("")
        return line


def _print_tool_result(payload: dict[str, Any]) -> None:
    """A command's output as the command would print it (stdout here, stderr on stderr); a tool without that kind
    of output (observe_screen, system_info…) gets its result as JSON. A failure says why on stderr."""
    raw = payload.get("result")
    result: dict[str, Any] = raw if isinstance(raw, dict) else {}
    output = {key: payload.get(key, result.get(key)) for key in ("stdout", "stderr", "exit_code")}
    for key, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        text = output[key]
        if isinstance(text, str) and text:
            print(text, end="" if text.endswith("\n") else "\n", file=stream, flush=True)
    if all(value is None for value in output.values()) and payload.get("result") is not None:
        print(json.dumps(payload["result"], indent=2, ensure_ascii=False))
    status = payload.get("status")
    # Where it ran and what was cut go to stderr, so that stdout stays the tool's own output.
    if payload.get("executed_on") == "sandbox":
        print(visible(f"contop run: {result.get('sandbox_reason') or payload.get('message')}"), file=sys.stderr)
    note = result.get("note") or payload.get("note")
    if isinstance(note, str) and note:
        print(visible(f"contop run: note: {note}"), file=sys.stderr)
    cut = payload.get("truncated")
    if isinstance(cut, list) and cut:  # the server cut the message to fit the connection (README)
        fields = ", ".join(str(field) for field in cut)
        print(f"contop run: output cut to fit one message ({fields}); ask for less at a time", file=sys.stderr)
    if status != "success":
        code = output["exit_code"]
        timed_out = result.get("voice_message") if result.get("timed_out") else ""
        exited = f"exit code {code}" if code else ""
        if payload.get("executed_on") == "sandbox":  # its message only says why it ran there (printed above)
            why = timed_out or exited or result.get("message")
        else:
            why = payload.get("message") or result.get("message") or timed_out or exited
        print(visible(f"contop run: {status}" + (f": {why}" if why else "")), file=sys.stderr)


class _ProgressPrinter:
    """Human output: streamed text and thinking flow on one line each; everything else starts a new line."""

    def __init__(self) -> None:
        self._streaming: str | None = None  # the kind whose chunks are being printed on the current line
        self._text_seen = False

    def end_line(self) -> None:
        if self._streaming is not None:
            print(flush=True)
            self._streaming = None

    def show(self, kind: str, payload: dict[str, Any]) -> None:
        if kind in ("agent_thinking", "agent_text"):
            if self._streaming != kind:
                self.end_line()
                if kind == "agent_thinking":
                    print("… ", end="")
                self._streaming = kind
            self._text_seen = self._text_seen or kind == "agent_text"
            print(visible(str(payload.get("text", "")), lines=True), end="", flush=True)
            return
        self.end_line()
        if kind == "agent_progress":
            step = f"[{payload.get('step')}] {payload.get('status')}: {payload.get('tool')} {payload.get('detail', '')}"
            print(visible(step, lines=True))
        elif kind == "agent_status":
            print(visible(f"({payload.get('status_type')}) {payload.get('message', '')}", lines=True), file=sys.stderr)
        elif kind == "tool_result":
            where = " (in the sandbox)" if payload.get("executed_on") == "sandbox" else ""
            print(visible(f"  {payload.get('tool')}: {payload.get('status')}{where}"))
        else:
            print(f"{kind}: {json.dumps(payload, ensure_ascii=False)}", file=sys.stderr)

    def finish(self, answer: str) -> None:
        """The final answer, unless it was just streamed as agent_text."""
        streamed = self._text_seen and self._streaming == "agent_text"
        self.end_line()
        if not streamed:
            print(visible(answer, lines=True))
