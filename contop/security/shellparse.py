"""POSIX shell parsing for the gate: bashlex first, a careful tokenizer of our own when bashlex gives up.

Both produce the same small structure: a script is a sequence of pipelines, a pipeline a sequence of simple
commands, and every command keeps its command/process substitutions and here-documents as nested scripts so the
rules can look inside them. What runs in a subshell (``( … )``, a list ended by ``&``) stays a group marked as
such, because what it changes (``cd``, variables) ends with it. Parses are cached; the structures must be treated
as read-only.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import bashlex

MAX_DEPTH = 12
_BASHLEX_MAX = 4000  # bashlex slows down badly on long inputs; our tokenizer is linear


@dataclass(slots=True)
class Cmd:
    """One simple command (or a grouped list standing as one stage of a pipeline, in ``group``)."""

    words: list[str] = field(default_factory=list)
    assigns: list[tuple[str, str]] = field(default_factory=list)
    redirects: list[tuple[str, str]] = field(default_factory=list)  # (operator, target or here-doc body)
    subs: list[Script] = field(default_factory=list)
    text: str = ""
    group: Script | None = None
    subshell: bool = False  # the group runs in a subshell: '( … )', or a list sent to the background with '&'


@dataclass(slots=True)
class Script:
    pipelines: list[list[Cmd]] = field(default_factory=list)
    fallback: bool = False  # parsed by our own tokenizer
    too_deep: bool = False

    def commands(self) -> list[Cmd]:
        """Every simple command, those inside groups too (the groups themselves hold no words)."""
        out: list[Cmd] = []
        for pipeline in self.pipelines:
            for cmd in pipeline:
                out.extend(cmd.group.commands() if cmd.group is not None else (cmd,))
        return out


def in_subshell(pipelines: list[list[Cmd]], text: str) -> list[Cmd]:
    """``pipelines`` as one command run in a subshell (the stage a group or a background list becomes)."""
    return [Cmd(text=text, group=Script(pipelines=pipelines), subshell=True)]


# What separates one and-or list from the next: '&' sends the list before it (not only its last pipeline) to the
# background, so 'cd /tmp && ls &' leaves the folder as it was.
_LIST_ENDS = frozenset((";", "&", "\n", ";;", ")"))


# Control syntax whose structure matters (``for …; do …; done | sh``). Lines without it are pipelines, subshells
# and brace groups, which our tokenizer reads exactly and about ten times faster than bashlex (the tests check
# that both agree on the corpus); lines with it go to bashlex for the structure.
_COMPOUND = re.compile(r"(^|[;&|(){}]\s*)(if|for|while|until|case|select|function)\s")
_QUOTED = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\$`])*\"")


# '[[' where it may open a conditional command: bashlex cannot read one, so such lines go to our tokenizer directly
_CONDITIONAL = re.compile(r"(?<![^\s;&|(){}!])\[\[\s")


def _is_compound(source: str) -> bool:
    """Whether the line has control syntax outside quotes (quoted text is data here). Blanking quoted text can
    only remove matches, never make one, so most lines are settled without copying them."""
    return _COMPOUND.search(source) is not None and _COMPOUND.search(_QUOTED.sub("''", source)) is not None


@lru_cache(maxsize=4096)
def parse(source: str, depth: int = 0) -> Script:
    """Parse ``source``; never raises (an unparseable input comes back from the fallback tokenizer)."""
    if depth > MAX_DEPTH:
        return Script(too_deep=True)
    if not _is_compound(source) or len(source) > _BASHLEX_MAX or _CONDITIONAL.search(source) is not None:
        return _Fallback(source, depth).parse()
    if "$'" not in source and '$"' not in source:
        try:
            nodes = bashlex.parse(source)
            script = Script()
            for node in nodes:
                script.pipelines.extend(_Converter(source, depth).walk(node))
            return script
        except Exception:  # noqa: S110 - bashlex raises many kinds of errors on valid shell; fall back below
            pass
    return _Fallback(source, depth).parse()


# --------------------------------------------------------------------------------------------------- bashlex


def _loop_variable(children: list[Any]) -> tuple[str, str] | None:
    """(name, its items joined by blanks) of a ``for name in items`` or ``select`` header, else None."""
    if len(children) < 3 or children[0].kind != "reservedword" or children[0].word not in ("for", "select"):
        return None
    if children[1].kind != "word" or children[2].kind != "reservedword" or children[2].word != "in":
        return None
    items = []
    for child in children[3:]:
        if child.kind != "word":
            break
        items.append(child.word)
    return children[1].word, " ".join(items)


class _Converter:
    def __init__(self, source: str, depth: int) -> None:
        self.source = source
        self.depth = depth

    def walk(self, node: Any) -> list[list[Cmd]]:
        kind = node.kind
        if kind == "command":
            return [[self.command(node)]]
        if kind == "pipeline":
            stages: list[Cmd] = []
            for part in node.parts:
                if part.kind == "pipe":
                    continue
                inner = self.walk(part)
                if len(inner) == 1 and len(inner[0]) == 1:
                    stages.append(inner[0][0])
                else:
                    text = self.source[part.pos[0] : part.pos[1]]
                    stages.append(Cmd(text=text, group=Script(pipelines=inner)))
            return [stages]
        if kind in ("reservedword", "operator", "pipe"):
            return []
        children = list(getattr(node, "parts", None) or getattr(node, "list", None) or [])
        result: list[list[Cmd]] = []
        text = self.source[node.pos[0] : node.pos[1]]
        loose = Cmd(text=text)
        loop = _loop_variable(children)
        if loop is not None:  # 'for f in ~/.ssh/*; do cat $f': judged as f='~/.ssh/*' (every item at once)
            loose.assigns.append(loop)
        list_start, list_pos = 0, node.pos[0]  # where the and-or list an '&' would send to the background starts
        for child in children:
            if child.kind == "word":
                self.collect_subs(child, loose.subs)
            elif child.kind == "redirect":
                self.redirect(child, loose)
            elif child.kind == "operator":
                if child.op == "&" and len(result) > list_start:
                    background = self.source[list_pos : child.pos[0]].strip()
                    result[list_start:] = [in_subshell(result[list_start:], background)]
                if child.op in _LIST_ENDS:
                    list_start, list_pos = len(result), child.pos[1]
            else:
                result.extend(self.walk(child))
        for redirect in getattr(node, "redirects", None) or []:
            self.redirect(redirect, loose)
        if kind == "compound" and children and children[0].kind == "reservedword" and children[0].word == "(":
            result = [in_subshell(result, text)]  # the redirections stay outside: they are opened before it runs
        if loose.subs or loose.redirects or loose.assigns:
            result.insert(0, [loose])
        return result

    def command(self, node: Any) -> Cmd:
        cmd = Cmd(text=self.source[node.pos[0] : node.pos[1]])
        for part in node.parts:
            if part.kind == "word":
                raw = self.source[part.pos[0] : part.pos[1]]
                text = self.text(part, cmd.subs)
                expanded = expand_braces(raw) if "{" in raw else None
                cmd.words.extend(expanded if expanded is not None else (text,))
            elif part.kind == "assignment":
                name, _, value = self.text(part, cmd.subs).partition("=")
                cmd.assigns.append((name, value))
            elif part.kind == "redirect":
                self.redirect(part, cmd)
        return cmd

    def redirect(self, node: Any, cmd: Cmd) -> None:
        heredoc = getattr(node, "heredoc", None)
        if heredoc is not None:
            if "\n" in heredoc.value:
                body = heredoc.value.rsplit("\n", 1)[0]
            else:  # inside a compound command bashlex reads the body as commands and keeps only the delimiter
                line_end = self.source.find("\n", node.pos[1])
                found = 0 <= line_end < heredoc.pos[0]
                body = self.source[line_end + 1 : heredoc.pos[0]].rstrip("\n") if found else ""
            if node.type == "<<-":
                body = "\n".join(line.lstrip("\t") for line in body.split("\n"))
            pos = getattr(node.output, "pos", None)
            delimiter = self.source[pos[0] : pos[1]] if pos else ""
            if not any(q in delimiter for q in "'\"\\"):  # '<<EOF', not '<<"EOF"': bash expands the body
                body = heredoc_body(body, cmd, self.depth)
            cmd.redirects.append(("<<", body))
            return
        target = node.output
        if hasattr(target, "word"):
            cmd.redirects.append((node.type, target.word))
            self.collect_subs(target, cmd.subs)
        else:
            cmd.redirects.append((node.type, f"&{target}"))

    def text(self, word: Any, subs: list[Script]) -> str:
        """The text of a word or assignment, its substitutions added to ``subs``."""
        if _has_parameter(word):
            text, found = rescan_word(self.source[word.pos[0] : word.pos[1]], self.depth)
            subs.extend(found)
            return text
        self.collect_subs(word, subs)
        return str(word.word)

    def collect_subs(self, word: Any, into: list[Script]) -> None:
        if _has_parameter(word):  # bashlex keeps '${x:-$(cmd)}' as text: our tokenizer finds what runs there
            into.extend(rescan_word(self.source[word.pos[0] : word.pos[1]], self.depth)[1])
            return
        for part in getattr(word, "parts", None) or []:
            if part.kind in ("commandsubstitution", "processsubstitution"):
                start, end = part.command.pos
                into.append(parse(self.source[start:end], self.depth + 1))
            else:
                self.collect_subs(part, into)


def _has_parameter(word: Any) -> bool:
    return any(part.kind == "parameter" for part in getattr(word, "parts", None) or [])


# --------------------------------------------------------------------------------------------------- fallback

_PAREN_SPECIALS = re.compile(r"[()'\"\\]")
_BACKTICK_SPECIALS = re.compile(r"[`\\]")
_DQ_SPECIALS = re.compile(r"[\"\\]")


def matching_end(src: str, start: int, closer: str) -> int:
    """Index of the ``)`` or backquote closing a substitution that starts at ``start`` (len(src) if none).

    Jumps between special characters with regular expressions so that long inputs stay cheap. A ``)`` that closes
    nothing (a case pattern's) or is not code (in a comment, a here-document body or a backquoted command) would
    end the substitution too early and leave the rest of it outside, unjudged: with any of those in sight the
    substitution is read again more carefully.
    """
    end = _plain_matching_end(src, start, closer)
    if closer == ")" and _CAREFUL.search(src, start, end) is not None:
        return _careful_matching_end(src, start)
    return end


def _after_quote(src: str, j: int) -> int:
    """Index just after the quoted string starting at ``src[j]`` (len(src) if it is not closed). In ``$'…'`` a
    backslash escapes the quote."""
    n = len(src)
    if src[j] == "'" and not (j and src[j - 1] == "$"):
        end = src.find("'", j + 1)
        return n if end < 0 else end + 1
    specials = _DQ_SPECIALS if src[j] == '"' else _ANSI_SPECIALS
    j += 1
    while j < n:
        quote = specials.search(src, j)
        if quote is None:
            return n
        if quote.group() == "\\":
            j = quote.start() + 2
            continue
        return quote.start() + 1
    return n


def _plain_matching_end(src: str, start: int, closer: str) -> int:
    specials = _PAREN_SPECIALS if closer == ")" else _BACKTICK_SPECIALS
    level, j, n = 1, start, len(src)
    while j < n:
        found = specials.search(src, j)
        if found is None:
            return n
        j = found.start()
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c in "'\"":
            j = _after_quote(src, j)
            continue
        if c == "`":
            return j
        level += 1 if c == "(" else -1
        if level == 0:
            return j
        j += 1
    return n


_ANSI_SPECIALS = re.compile(r"['\\]")
_CAREFUL = re.compile(r"case|<<|#|`")
# '(?<![^…])' is "at the start or after a break": a comment or a reserved word starts a word
_CAREFUL_SPECIALS = re.compile(r"[()'\"\\;`\n]|<<<|<<-?|(?<![^\s;&|()])(?:#|(?:case|esac|in)(?=[\s;&|()]|$))")
_HEREDOC_WORD = re.compile(r"[ \t]*((?:[^\s;&|()<>'\"\\]|\\.|'[^']*'|\"(?:\\.|[^\"\\])*\")*)")
_CASE_HEAD, _CASE_PATTERN, _CASE_BODY = 0, 1, 2


def _careful_matching_end(src: str, start: int) -> int:
    """``matching_end`` reading what bash reads in a ``$(…)``: case statements (``$(case x in x) rm -rf ~;; esac)``
    ends at its last ``)``), comments, here-document bodies and backquoted commands, whose ``)`` close nothing."""
    level, j, n = 1, start, len(src)
    cases: list[list[int]] = []  # each open case statement: [its parenthesis level, head/pattern/body]
    heredocs: list[tuple[str, bool]] = []  # (delimiter, strip tabs) of those whose body starts at the next line
    while j < n:
        found = _CAREFUL_SPECIALS.search(src, j)
        if found is None:
            return n
        j, seen = found.start(), found.group()
        c = seen[0]
        top = cases[-1] if cases and cases[-1][0] == level else None
        if c == "\\":
            j += 2
        elif c in "'\"":
            j = _after_quote(src, j)
        elif c == "`":
            j = _plain_matching_end(src, j + 1, "`") + 1
        elif c == "#":
            newline = src.find("\n", j)
            j = n if newline < 0 else newline
        elif c == "<":
            if seen != "<<<":
                word = _HEREDOC_WORD.match(src, found.end())
                if word is not None:
                    heredocs.append(("".join(_unquote(word.group(1))[0]), seen == "<<-"))
                    j = word.end()
                    continue
            j = found.end()
        elif c == "\n":
            j = _after_heredocs(src, j + 1, heredocs)
            heredocs.clear()
        elif c == "(":
            if top is None or top[1] != _CASE_PATTERN:  # '(x) …': a pattern may start with a '(' of its own
                level += 1
            j += 1
        elif c == ")":
            if top is not None and top[1] == _CASE_PATTERN:
                top[1] = _CASE_BODY
            else:
                level -= 1
                if level == 0:
                    return j
            j += 1
        elif c == ";":
            if top is not None and top[1] == _CASE_BODY and src.startswith((";;", ";&"), j):
                top[1] = _CASE_PATTERN
                j += 1
            j += 1
        else:
            if seen == "case" and _command_start(src, start, j):
                cases.append([level, _CASE_HEAD])
            elif seen == "in" and top is not None and top[1] == _CASE_HEAD:
                top[1] = _CASE_PATTERN
            elif seen == "esac" and top is not None and top[1] != _CASE_HEAD and _command_start(src, start, j):
                cases.pop()
            j = found.end()
    return n


def _after_heredocs(src: str, pos: int, heredocs: list[tuple[str, bool]]) -> int:
    """Where reading resumes after the bodies of ``heredocs``, which start at ``pos``. In a substitution bash also
    ends a body at a line that is its delimiter followed by the ``)`` (``EOF)``): reading resumes at that ``)``."""
    n = len(src)
    for delimiter, strip_tabs in heredocs:
        while pos < n:
            newline = src.find("\n", pos)
            line_end = n if newline < 0 else newline
            line = src[pos:line_end].lstrip("\t") if strip_tabs else src[pos:line_end]
            if line == delimiter:
                pos = line_end
                break
            if line.startswith(delimiter) and line[len(delimiter) :].lstrip(" \t").startswith(")"):
                return line_end - len(line) + len(delimiter)
            pos = line_end + 1
    return min(pos, n)


def _in_case(opened: list[tuple[str, int, int]], words: list[str]) -> bool:
    """Whether a ``)`` read after ``words`` ends a case pattern: a case statement is open (``opened``, or these
    words start one: ``case x in a``) and these words do not close it (``esac``)."""
    depth = sum(keyword == "case" for keyword, _, _ in opened)
    for word in words:
        if word == "esac":
            depth -= 1
        elif word not in _RESERVED:
            return depth > 0 or word == "case"
    return depth > 0


def _command_start(src: str, start: int, j: int) -> bool:
    """Whether a command starts at ``j``: first on the line or after an operator or a reserved word."""
    k = j - 1
    while k >= start and src[k] in " \t":
        k -= 1
    if k < start or src[k] in ";&|\n()":
        return True
    end = k + 1
    while k >= start and src[k] not in " \t\n;&|()":
        k -= 1
    return src[k + 1 : end] in _RESERVED


_PLAIN_RUN = re.compile(r"[^\s;&|()<>'\"\\$`]+")
_BLANKS = re.compile(r"\s+")
_REDIR_START = frozenset("<>&0123456789")
_OPERATORS = ("&&", "||", ";;", "|&", ";", "&", "|", "\n", "(", ")")
_REDIR = re.compile(r"(\d*|&)(>>|>\||>&|<<<|<<-|<<|<>|<&|>|<)")
_RESERVED = frozenset("if then else elif fi do done while until ! { } time esac in".split())
_COMPOUND_OPENERS = frozenset(("if", "while", "until", "for", "select", "case"))
_COMPOUND_CLOSERS = frozenset(("fi", "done", "esac"))
_BEFORE_CONDITIONAL = frozenset("if then else elif do while until ! { time".split())  # '[[' stays reserved after
_AFTER_CLOSE = frozenset(("", " ", "\t", "\r", "\n", ";", "&", "|", "(", ")", "<", ">"))  # ']]' ends a word there
_REGEX_END = frozenset(" \t\r\n;&()<>")
_ARITHMETIC_TESTS = frozenset(("-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-v"))
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "v": "\v",
         "?": "?", "\\": "\\", "'": "'", '"': '"'}  # fmt: skip
_ANSI_NUMBER = re.compile(r"x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{1,4})|U([0-9a-fA-F]{1,8})|([0-7]{1,3})")


class _Fallback:
    """A small tokenizer for the shell syntax bashlex rejects (case, arithmetic, $'..', odd quoting)."""

    def __init__(self, source: str, depth: int) -> None:
        self.src = source
        self.i = 0
        self.depth = depth
        self.heredocs: list[tuple[Cmd, str, int, bool, bool]] = []  # cmd, delimiter, index, quoted, strip tabs
        self.no_conditional = -1  # a '[[' before here was read as words and failed: so would any inside it

    def parse(self) -> Script:
        script = Script(fallback=True)
        while self.i < len(self.src):
            before = self.i
            script.pipelines.extend(self.parse_list(closing=""))
            if self.i == before:
                self.i += 1
        return script

    def parse_list(self, closing: str) -> list[list[Cmd]]:
        """Pipelines up to the end, or up to ``closing`` (``)`` of a subshell, ``}`` of a brace group). An and-or
        list ended by ``&`` becomes one subshell group; so does an ``if``, a loop or a ``case`` sent there
        (``if …; fi &``), whose extent the compound keywords give."""
        pipelines: list[list[Cmd]] = []
        pipeline: list[Cmd] = []
        cmd = Cmd()
        start = self.i
        list_start, list_pos = 0, self.i  # the and-or list going on: its first pipeline and where it starts
        opened: list[tuple[str, int, int]] = []  # compound commands open here, with the list they began in
        while True:
            piece = self.next_token(cmd)
            if piece == ")" and closing == ")" and _in_case(opened, cmd.words):
                piece = ";;"  # a case pattern's ')' inside a subshell: the subshell goes on
            if piece is None or (piece == ")" and closing == ")"):
                break
            if piece == "" and cmd.words in (["{"], ["}"]):
                if cmd.words == ["}"]:
                    cmd.words.clear()
                    if closing == "}":
                        break
                    continue
                cmd.words.clear()
                group_start = self.i
                inner = self.parse_list(closing="}")
                group = Cmd(text=self.src[group_start : self.i], group=Script(pipelines=inner, fallback=True))
                pipeline.append(group)
                cmd, start = Cmd(), self.i
                continue
            if piece in ("|", "|&"):
                self.finish(cmd, start, pipeline)
                cmd, start = Cmd(), self.i
            elif piece in (";", "&", "&&", "||", "\n", ";;", ")"):
                for keyword in self.finish(cmd, start, pipeline):
                    if keyword in _COMPOUND_OPENERS:
                        opened.append((keyword, list_start, list_pos))
                    elif keyword in _COMPOUND_CLOSERS and opened:  # it is part of the list it began in
                        _, list_start, list_pos = opened.pop()
                if piece == "\n":
                    self.read_heredocs()
                self.close(pipeline, pipelines)
                if piece == "&" and len(pipelines) > list_start:
                    background = self.src[list_pos : self.i - 1].strip()
                    pipelines[list_start:] = [in_subshell(pipelines[list_start:], background)]
                if piece in _LIST_ENDS:
                    list_start, list_pos = len(pipelines), self.i
                pipeline, cmd, start = [], Cmd(), self.i
            elif piece == "(":
                inner = self.parse_list(closing=")")
                group = Cmd(text=self.src[start : self.i], group=Script(pipelines=inner, fallback=True), subshell=True)
                pipeline.append(group)
                cmd, start = Cmd(), self.i
        self.finish(cmd, start, pipeline)
        self.close(pipeline, pipelines)
        self.read_heredocs()
        return pipelines

    def close(self, pipeline: list[Cmd], pipelines: list[list[Cmd]]) -> None:
        """End a pipeline; a brace group standing alone is just its pipelines (as bashlex reads it)."""
        only = pipeline[0] if len(pipeline) == 1 else None
        if only is not None and only.group is not None and not only.redirects and not only.subshell:
            pipelines.extend(only.group.pipelines)
        elif pipeline:
            pipelines.append(pipeline)

    def finish(self, cmd: Cmd, start: int, pipeline: list[Cmd]) -> list[str]:
        """Add ``cmd`` to ``pipeline`` if it holds anything; returns the compound keywords it started with."""
        keywords: list[str] = []
        while cmd.words and cmd.words[0] in _RESERVED:
            keywords.append(cmd.words.pop(0))
        if cmd.words and cmd.words[0] in _COMPOUND_OPENERS:
            keywords.append(cmd.words[0])
        if cmd.words and cmd.words[0] in ("for", "select") and len(cmd.words) > 3 and cmd.words[2] == "in":
            # 'for f in ~/.ssh/*; do cat $f': judged as f='~/.ssh/*', every item at once (stricter than it runs)
            cmd.assigns.append((cmd.words[1], " ".join(cmd.words[3:])))
            cmd.words.clear()
        if cmd.words and cmd.words[0] in ("for", "select", "case", "function"):
            cmd.words.clear()
        while cmd.words and "=" in cmd.words[0] and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd.words[0]):
            name, _, value = cmd.words.pop(0).partition("=")
            cmd.assigns.append((name, value))
        if cmd.words or cmd.assigns or cmd.redirects or cmd.subs:
            cmd.text = self.src[start : self.i].strip(" \t\n;&|)")
            pipeline.append(cmd)
        return keywords

    def read_heredocs(self) -> None:
        """Read the bodies of the here-documents opened on the line just ended, each up to the line that is its
        delimiter (after leading tabs, for ``<<-``)."""
        src = self.src
        for cmd, delimiter, index, quoted, strip_tabs in self.heredocs:
            lines: list[str] = []
            pos = self.i
            while pos < len(src):
                newline = src.find("\n", pos)
                line_end = len(src) if newline < 0 else newline
                line = src[pos:line_end].lstrip("\t") if strip_tabs else src[pos:line_end]
                if line == delimiter:
                    pos = line_end
                    break
                lines.append(line)
                pos = line_end + 1
            self.i = min(pos, len(src))
            body = "\n".join(lines).rstrip("\n")
            cmd.redirects[index] = ("<<", body if quoted else heredoc_body(body, cmd, self.depth))
        self.heredocs.clear()

    def next_token(self, cmd: Cmd) -> str | None:
        """Consume blanks, then one operator (returned) or one word/redirection (stored in ``cmd``)."""
        src = self.src
        while (self.i < len(src) and src[self.i] in " \t\r") or src.startswith("\\\n", self.i):
            self.i += 2 if src[self.i] == "\\" else 1
        if self.i >= len(src):
            return None
        if src[self.i] == "#":
            end = src.find("\n", self.i)
            self.i = len(src) if end < 0 else end
            return self.next_token(cmd)
        first = src[self.i]
        if first in "&|;\n()" and not src.startswith("&>", self.i):
            for op in _OPERATORS:
                if not src.startswith(op, self.i):
                    continue
                if op == "(" and cmd.words and src.startswith("()", self.i):
                    # 'name() { … }': a function definition, keep the body as ordinary commands
                    self.i += 2
                    cmd.words.clear()
                    return ";"
                self.i += len(op)
                return op
        if first == "[" and self.conditional(cmd):
            return ""
        redirect = _REDIR.match(src, self.i) if first in _REDIR_START else None
        if redirect and (redirect.group(1) == "" or redirect.group(1) == "&" or redirect.group(1).isdigit()):
            if not src.startswith("<(", self.i) and not src.startswith(">(", self.i):
                self.i = redirect.end()
                op = redirect.group(2)
                while self.i < len(src) and src[self.i] in " \t":
                    self.i += 1
                start = self.i
                word = self.word(cmd)
                if op in ("<<", "<<-"):
                    quoted = any(q in src[start : self.i] for q in "'\"\\")  # '<<"EOF"': a body kept as it is
                    cmd.redirects.append(("<<", ""))
                    self.heredocs.append((cmd, word.strip(), len(cmd.redirects) - 1, quoted, op == "<<-"))
                elif op in (">&", "<&") and (word.isdigit() or word == "-"):
                    cmd.redirects.append((op, "&" + word))  # a descriptor copy, not a file
                else:
                    cmd.redirects.append((op if redirect.group(1) != "&" else "&>", word))
                return ""
        start = self.i
        word = self.word(cmd)
        if "{" in word and not (not cmd.words and _ASSIGNMENT_WORD.match(word)):
            expanded = expand_braces(src[start : self.i])
            if expanded is not None:
                cmd.words.extend(expanded)
                return ""
        cmd.words.append(word)
        return ""

    def conditional(self, cmd: Cmd) -> bool:
        """Read the ``[[ … ]]`` at ``self.i`` into ``cmd.words``, if one starts there; False (nothing read) if not.

        Inside it ``&&``, ``||``, ``(``, ``)``, ``<`` and ``>`` belong to the test, not to the command list, so
        ``[[ $a == b && $c == d ]]`` is one command. Its substitutions still run and are kept in ``cmd.subs``.
        Anything bash would reject there (``;``, ``|``, a comment, no closing ``]]``) leaves the line to the
        ordinary reading, which splits it at those operators: stricter, and nothing goes unread.
        """
        src, start, n = self.src, self.i, len(self.src)
        if not src.startswith("[[", start) or src[start + 2 : start + 3] not in (" ", "\t", "\r", "\n"):
            return False
        if start < self.no_conditional or cmd.redirects or cmd.subs:
            return False
        if any(word not in _BEFORE_CONDITIONAL for word in cmd.words):  # 'echo [[', 'x=1 [[': an ordinary word
            return False
        subs_before = len(cmd.subs)
        words = ["[["]
        self.i += 2
        regex = False
        while True:
            while self.i < n and (src[self.i] in " \t\r\n" or src.startswith("\\\n", self.i)):
                if src[self.i] == "\n" and self.heredocs:  # a here-document body would start on the next line
                    break
                self.i += 2 if src[self.i] == "\\" else 1
            c = src[self.i : self.i + 1]
            if src.startswith("]]", self.i) and src[self.i + 2 : self.i + 3] in _AFTER_CLOSE:
                self.i += 2
                cmd.words.extend([*words, "]]"])
                for k, word in enumerate(words):
                    if word in _ARITHMETIC_TESTS and k + 1 < len(words):
                        self.arithmetic_operand(cmd, words[k + 1])
                        if word != "-v":
                            self.arithmetic_operand(cmd, words[k - 1])
                return True
            before = self.i
            if c in ("", "\n", ";", "#") or src.startswith(("<<", ">>", "<&", ">&", "<>", ">|"), self.i):
                piece = None
            elif regex:
                piece, regex = self.regex_word(cmd), False
            elif src.startswith(("&&", "||"), self.i):
                piece = src[self.i : self.i + 2]
                self.i += 2
            elif c in "()" or (c in "<>" and src[self.i + 1 : self.i + 2] != "("):
                piece = c
                self.i += 1
            elif c in "&|":
                piece = None
            else:
                piece = self.word(cmd)
                regex = src[before : self.i] == "=~"
            if piece is None or self.i == before:
                self.no_conditional = self.i
                self.i = start
                del cmd.subs[subs_before:]
                return False
            words.append(piece)

    def arithmetic_operand(self, cmd: Cmd, text: str) -> None:
        """An operand ``[[`` computes (``-eq`` and the like) or looks up (``-v``): bash expands the array subscripts
        in its text once more, so ``[[ 'a[$(cmd)]' -eq 1 ]]`` runs cmd though it is quoted. What runs there is kept
        as ``arithmetic`` keeps it."""
        if "$" not in text and "`" not in text:
            return
        if self.depth >= MAX_DEPTH:
            cmd.subs.append(Script(too_deep=True))
            return
        inner = Cmd(text=text)
        _Fallback(text, self.depth + 1).expanded(inner, "", len(text), _DQ_ESCAPES)
        if inner.subs:
            cmd.subs.append(Script(pipelines=[[inner]], fallback=True))

    def regex_word(self, cmd: Cmd) -> str | None:
        """The word after ``=~`` in ``[[ … ]]``: bash reads ``|`` and parenthesised groups (blanks included) as part
        of the regular expression. None if a group is not closed on the line."""
        src, out, level = self.src, list[str](), 0
        while self.i < len(src):
            c = src[self.i]
            if c == "(":
                level += 1
            elif c == ")" and level:
                level -= 1
            elif c == "|" or (level and c in " \t"):
                pass
            elif c in _REGEX_END:
                break
            else:
                before = self.i
                out.append(self.word(cmd))
                if self.i == before:
                    return None
                continue
            out.append(c)
            self.i += 1
        return None if level else "".join(out)

    def word(self, cmd: Cmd) -> str:
        src, out = self.src, list[str]()
        while self.i < len(src):
            plain = _PLAIN_RUN.match(src, self.i)
            if plain:
                out.append(plain.group())
                self.i = plain.end()
                if self.i >= len(src):
                    break
            c = src[self.i]
            if c in " \t\r\n;&|":
                break
            if c == "(" and out and out[-1].endswith("="):
                end = matching_end(src, self.i + 1, ")")  # an array: a=(x y), its items expanded as words
                start = self.i
                self.i += 1
                while self.i < end:
                    blanks = _BLANKS.match(src, self.i, end)
                    before = self.i = blanks.end() if blanks else self.i
                    self.word(cmd)
                    self.i += self.i == before
                out.append(src[start : end + 1])
                self.i = end + 1
                continue
            if c in "()":
                break
            if c in "<>" and out and src[self.i + 1 : self.i + 2] != "(":
                break  # 'a>b' is the word 'a' and a redirection
            if c == "\\":
                if src[self.i + 1 : self.i + 2] != "\n":  # a backslash-newline is a line continuation: nothing
                    out.append(src[self.i + 1 : self.i + 2])
                self.i += 2
            elif c == "'":
                end = src.find("'", self.i + 1)
                end = len(src) if end < 0 else end
                out.append(src[self.i + 1 : end])
                self.i = end + 1
            elif src.startswith("$'", self.i):
                out.append(self.ansi_c())
            elif c == '"':
                self.i += 1
                out.append(self.double_quoted(cmd))
            elif src.startswith("<(", self.i) or src.startswith(">(", self.i):
                out.append(self.substitution(cmd, self.i + 2, ")"))
            elif c in "$`" and (text := self.expansion(cmd, quoted=False, in_word=True)) is not None:
                out.append(text)
            else:
                out.append(c)
                self.i += 1
        return "".join(out)

    def double_quoted(self, cmd: Cmd) -> str:
        text = self.expanded(cmd, '"', len(self.src), _DQ_ESCAPES)
        self.i += 1
        return text

    def expanded(self, cmd: Cmd, closer: str, stop: int, escapes: tuple[str, ...]) -> str:
        """Text where bash expands parameters, arithmetic and substitutions but quotes are ordinary characters
        (double quotes, a here-document body, arithmetic), read up to ``closer`` or ``stop``; a backslash quotes
        only the characters in ``escapes``."""
        src, out = self.src, list[str]()
        while self.i < stop and src[self.i] != closer:
            plain = _EXPANDED_PLAIN.match(src, self.i, stop)
            if plain:
                out.append(plain.group())
                self.i = plain.end()
                continue
            c = src[self.i]
            if c == "\\" and src[self.i + 1 : self.i + 2] == "\n":  # a line continuation
                self.i += 2
            elif c == "\\" and src[self.i + 1 : self.i + 2] in escapes:
                out.append(src[self.i + 1])
                self.i += 2
            elif c in "$`" and (text := self.expansion(cmd, quoted=True)) is not None:
                out.append(text)
            else:
                out.append(c)
                self.i += 1
        return "".join(out)

    def expansion(self, cmd: Cmd, quoted: bool, in_word: bool = False) -> str | None:
        """The ``$((…))``, ``$(…)``, backquote or ``${…}`` at ``self.i`` as written (arithmetic in a word: "0",
        a number whatever it computes), every substitution in it kept in ``cmd.subs``; None when no expansion
        starts there."""
        src, i = self.src, self.i
        if src.startswith("$((", i):
            # arithmetic when the inner '(' closes right before a second ')'; else a substitution of a subshell
            # ('$((cd /; ls) )'), which bash tells apart the same way: its end is found from there on
            end = matching_end(src, i + 3, ")")
            if src.startswith("))", end):
                text = self.arithmetic(cmd, end)
                return "0" if in_word else text
            return self.substitution(cmd, i + 2, ")", resume=min(end + 1, len(src)))
        if src.startswith("$(", i):
            return self.substitution(cmd, i + 2, ")")
        if src.startswith("`", i):
            return self.substitution(cmd, i + 1, "`")
        if src.startswith("${", i):
            return self.parameter(cmd, quoted)
        return None

    def arithmetic(self, cmd: Cmd, end: int) -> str:
        """Read ``$((…))`` up to ``end``. Bash expands its inside as if double-quoted before computing it, and a
        substitution there runs even between single quotes. What runs there is kept one level deeper, under a
        command without words, so that arithmetic nested in arithmetic is cut short as nested substitutions are
        (each level reads the rest of the line again)."""
        start = self.i
        if self.depth >= MAX_DEPTH:
            cmd.subs.append(Script(too_deep=True))
        else:
            inner = Cmd(text=self.src[start : end + 2])
            reader = _Fallback(self.src, self.depth + 1)
            reader.i = start + 3
            reader.expanded(inner, "", end, _DQ_ESCAPES)
            if inner.subs:
                cmd.subs.append(Script(pipelines=[[inner]], fallback=True))
        self.i = end + 2
        return self.src[start : self.i]

    def parameter(self, cmd: Cmd, quoted: bool) -> str:
        """Read the ``${…}`` at ``self.i`` up to its own ``}``. Bash expands the words in its operators and index as
        it expands it (``${x:-$(cmd)}``, ``${a[$(cmd)]}``), so their substitutions are kept; unquoted, their
        quotes are removed, as the shell does (``eval ${x:-'rm -rf ~'}`` runs ``rm -rf ~``). Inside double
        quotes a single quote is an ordinary character (``"${x:-'$(cmd)'}"`` runs cmd)."""
        src, out, nested = self.src, ["${"], 0
        self.i += 2
        while self.i < len(src):
            plain = _PARAMETER_PLAIN.match(src, self.i)
            if plain:
                out.append(plain.group())
                self.i = plain.end()
                continue
            c = src[self.i]
            if c == "}" and not nested:
                break
            if c == "\\":
                escaped = src[self.i + 1 : self.i + 2]
                if escaped != "\n":  # a backslash-newline is a line continuation: nothing
                    out.append(c + escaped if quoted and escaped not in _BRACE_ESCAPES else escaped)
                self.i += 2
            elif c == "'" and not quoted:
                end = src.find("'", self.i + 1)
                end = len(src) if end < 0 else end
                out.append(src[self.i + 1 : end])
                self.i = end + 1
            elif src.startswith("$'", self.i) and not quoted:
                out.append(self.ansi_c())
            elif c == '"':
                self.i += 1
                out.append(self.double_quoted(cmd))
            elif not quoted and (src.startswith("<(", self.i) or src.startswith(">(", self.i)):
                out.append(self.substitution(cmd, self.i + 2, ")"))
            elif c in "$`" and (text := self.expansion(cmd, quoted)) is not None:
                out.append(text)
            else:
                nested += (c == "{") - (c == "}")  # bash pairs plain braces inside: '${x:-{a}}' is '{a}'
                out.append(c)
                self.i += 1
        self.i += 1
        out.append("}")
        return "".join(out)

    def ansi_c(self) -> str:
        src, out = self.src, list[str]()
        self.i += 2
        while self.i < len(src) and src[self.i] != "'":
            c = src[self.i]
            if c == "\\" and self.i + 1 < len(src):
                nxt = src[self.i + 1]
                hexa = _ANSI_NUMBER.match(src, self.i + 1)
                if hexa:
                    digits = hexa.group(1) or hexa.group(2) or hexa.group(3) or hexa.group(4)
                    out.append(chr(min(int(digits, 8 if hexa.group(4) else 16), 0x10FFFF)))
                    self.i = hexa.end()
                    continue
                if nxt == "c" and self.i + 2 < len(src):  # \cX: the control character of X
                    out.append(chr(ord(src[self.i + 2]) & 0x1F))
                    self.i += 3
                    continue
                out.append(_ANSI.get(nxt, nxt))
                self.i += 2
            else:
                out.append(c)
                self.i += 1
        self.i += 1
        return "".join(out)

    def substitution(self, cmd: Cmd, start: int, closer: str, resume: int | None = None) -> str:
        """Find the end of ``$(…)``, ``<(…)`` or a backquote (looking from ``resume`` when the part before it is
        known to be balanced), parse the inside, and keep it as text."""
        src = self.src
        j = matching_end(src, start if resume is None else resume, closer)
        inner = src[start:j]
        cmd.subs.append(parse(inner, self.depth + 1))
        text = src[self.i : j + 1]
        self.i = j + 1
        return text


_DQ_ESCAPES = ('"', "\\", "$", "`")
_BRACE_ESCAPES = (*_DQ_ESCAPES, "}")  # in '"${x:-a\}b}"' the backslash quotes the brace
_EXPANDED_PLAIN = re.compile(r'[^\\$`"]+')
_PARAMETER_PLAIN = re.compile(r"[^\\'\"$`<>{}]+")
_HEREDOC_ESCAPES = ("\\", "$", "`")


def heredoc_body(body: str, cmd: Cmd, depth: int) -> str:
    """A here-document body whose delimiter is not quoted, as the command reads it: bash expands parameters,
    arithmetic and substitutions in it (kept in ``cmd.subs``), and a backslash quotes only ``\\``, ``$`` and a
    backquote. Quotes are ordinary characters there: ``'$(cmd)'`` runs cmd."""
    reader = _Fallback(body, depth)
    return reader.expanded(cmd, "", len(body), _HEREDOC_ESCAPES)


def rescan_word(raw: str, depth: int) -> tuple[str, list[Script]]:
    """A word read again by our tokenizer (bashlex does not look inside ``${…}``): its text and substitutions."""
    reader, cmd, out = _Fallback(raw, depth), Cmd(), list[str]()
    while reader.i < len(raw):
        before = reader.i
        out.append(reader.word(cmd))
        if reader.i == before:
            out.append(raw[reader.i])
            reader.i += 1
    return "".join(out), cmd.subs


# ------------------------------------------------------------------------------------------------ brace expansion
# Bash expands ``{a,b}`` and ``{1..3}`` outside quotes before anything else, so ``cat /root/.ss{h,x}/id_rsa`` reads
# ~/.ssh/id_rsa and ``chmod 777 /{etc,tmp}`` changes /etc. A word with such a group becomes the words it expands to,
# as the shell passes them on. Quoted and escaped characters never take part.

BRACE_LIMIT = 256  # more words than this: the groups are read as '*' globs, which the path rules judge as well
BRACE_GROUPS_LIMIT = 32  # more '{' than this in one word: read as globs at once
_SEQUENCE = re.compile(r"(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?")
_ASSIGNMENT_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")


class _TooMany(Exception):
    pass


def expand_braces(raw: str) -> list[str] | None:
    """The words the raw shell word ``raw`` brace-expands to, quotes removed; None when it has no brace group."""
    chars, literal = _unquote(raw)
    if not any(c == "{" and not lit for c, lit in zip(chars, literal, strict=True)):
        return None
    tokens = list(zip(chars, literal, strict=True))
    groups = len(_paired(tokens)) // 2
    try:
        if groups > BRACE_GROUPS_LIMIT:  # each group may rescan what follows it: keep the work linear
            raise _TooMany
        words = _expand(tokens, 0)
    except _TooMany:
        words = [_globbed(tokens)]
    if len(words) == 1 and words[0] == tokens:
        return None
    return ["".join(c for c, _ in word) for word in words]


def _unquote(raw: str) -> tuple[list[str], list[bool]]:
    """The characters of a shell word after quote removal, each with whether it was quoted (or a substitution)."""
    chars: list[str] = []
    literal: list[bool] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n:
            if raw[i + 1] != "\n":  # a backslash-newline is a line continuation: nothing
                chars.append(raw[i + 1])
                literal.append(True)
            i += 2
        elif raw.startswith("$'", i):  # ANSI-C quoting: decoded as the shell does ('\x2f' is '/')
            reader = _Fallback(raw, MAX_DEPTH)
            reader.i = i
            text = reader.ansi_c()
            chars.extend(text)
            literal.extend([True] * len(text))
            i = reader.i
        elif raw.startswith('$"', i):  # a locale string reads as a double-quoted one
            i += 1
        elif c == "'":
            end = raw.find("'", i + 1)
            end = n if end < 0 else end
            chars.extend(raw[i + 1 : end])
            literal.extend([True] * (end - i - 1))
            i = end + 1
        elif c == '"':
            j = i + 1
            while j < n and raw[j] != '"':
                if raw[j] == "\\" and raw[j + 1 : j + 2] == "\n":
                    j += 2
                    continue
                if raw[j] == "\\" and raw[j + 1 : j + 2] in ('"', "\\", "$", "`"):
                    j += 1
                chars.append(raw[j])
                literal.append(True)
                j += 1
            i = j + 1
        elif raw.startswith("${", i):  # as the tokenizer reads it: to its own '}', quotes removed
            reader = _Fallback(raw, MAX_DEPTH)
            reader.i = i
            text = reader.parameter(Cmd(), quoted=False)
            chars.extend(text)
            literal.extend([True] * len(text))
            i = reader.i
        elif raw.startswith(("$(", "<(", ">("), i) or c == "`":
            if c == "`":
                end = raw.find("`", i + 1)
                end = n - 1 if end < 0 else end
            else:
                end = matching_end(raw, i + 2, ")")
            chars.extend(raw[i : end + 1])
            literal.extend([True] * len(raw[i : end + 1]))
            i = end + 1
        else:
            chars.append(c)
            literal.append(False)
            i += 1
    return chars, literal


def _expand(tokens: list[tuple[str, bool]], start: int) -> list[list[tuple[str, bool]]]:
    """Every expansion of ``tokens`` (a word), from its first brace group at or after ``start``."""
    n = len(tokens)
    i = start
    while i < n:
        if tokens[i] != ("{", False):
            i += 1
            continue
        level, commas, j = 1, [], i + 1
        while j < n and level:
            c, lit = tokens[j]
            if not lit:
                if c == "{":
                    level += 1
                elif c == "}":
                    level -= 1
                elif c == "," and level == 1:
                    commas.append(j)
            j += 1
        if level:
            i += 1  # this '{' has no partner (bash leaves it as it is): a later group may still expand
            continue
        close = j - 1
        body = tokens[i + 1 : close]
        alternatives: list[list[tuple[str, bool]]] | None
        if commas:
            bounds = [i, *commas, close]
            alternatives = [tokens[a + 1 : b] for a, b in itertools.pairwise(bounds)]
        else:
            alternatives = _sequence(body)
        if alternatives is None:
            i += 1  # '{x}' or '{}' stays as it is; a later group may still expand
            continue
        prefix, suffixes = tokens[:i], _expand(tokens[close + 1 :], 0)
        words: list[list[tuple[str, bool]]] = []
        for alternative in alternatives:
            for middle in _expand(alternative, 0):
                for suffix in suffixes:
                    words.append(prefix + middle + suffix)
                    if len(words) > BRACE_LIMIT:
                        raise _TooMany
        return words
    return [tokens]


def _sequence(body: list[tuple[str, bool]]) -> list[list[tuple[str, bool]]] | None:
    """``1..5``, ``a..e`` or ``0..10..2``, as the words of each step; None when ``body`` is not a sequence."""
    if len(body) > 48 or any(lit for _, lit in body):
        return None
    match = _SEQUENCE.fullmatch("".join(c for c, _ in body))
    if match is None:
        return None
    first, last, step_text = match.groups()
    step = abs(int(step_text)) if step_text else 1
    step = step or 1
    numeric = first.lstrip("-").isdigit() and last.lstrip("-").isdigit()
    if not numeric and (first.lstrip("-").isdigit() or last.lstrip("-").isdigit()):
        return None
    a, b = (int(first), int(last)) if numeric else (ord(first), ord(last))
    if abs(b - a) // step >= BRACE_LIMIT:
        raise _TooMany
    values = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
    # '{01..03}' is 01 02 03: a leading zero pads every number to the wider end ('-' counted)
    padded = numeric and any(len(x.lstrip("-")) > 1 and x.lstrip("-")[0] == "0" for x in (first, last))
    width = max(len(first), len(last)) if padded else 0
    return [[(ch, False) for ch in (format(v, f"0{width}d") if numeric else chr(v))] for v in values]


def _paired(tokens: list[tuple[str, bool]]) -> set[int]:
    """Where the unquoted braces that have a partner are (a lone '{' is an ordinary character, as in bash)."""
    partner: set[int] = set()
    opened: list[int] = []
    for k, (c, lit) in enumerate(tokens):
        if lit:
            continue
        if c == "{":
            opened.append(k)
        elif c == "}" and opened:
            partner.update((opened.pop(), k))
    return partner


def _globbed(tokens: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The word with each outermost brace group as ``*``: what it may expand to, for the path rules."""
    partner = _paired(tokens)
    out: list[tuple[str, bool]] = []
    level = 0
    for k, (c, lit) in enumerate(tokens):
        if k in partner:
            if c == "{":
                if level == 0:
                    out.append(("*", False))
                level += 1
            else:
                level -= 1
        elif level == 0:
            out.append((c, lit))
    return out
