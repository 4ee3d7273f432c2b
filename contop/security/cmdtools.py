"""Command rules for network tools (netcat, ssh, scp, rsync, sending a file with curl or wget), accounts and root
shells, searches and archives (grep, tar, zip, unzip), vim, debuggers, shell traps, secrets and desktop settings.
``commands`` dispatches to them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from contop.security.cmdbase import (
    HELP_FLAGS,
    INTERPRETERS,
    PROGRAM_DIR,
    SHELLS,
    CopyLine,
    Invocation,
    Rule,
    base_name,
    downloads_into,
    edits_files_in_place,
    edits_in_place,
    has_flag,
    in_folder,
    judge_deletion,
    judge_write_target,
    landing_files,
    long_option,
    nested,
    normalise,
    option_values,
    reads_whole_tree,
    runs_given_command,
    script_text,
    sed_delimited,
    split_opts,
    split_words,
    stdin_text,
    writes_file,
    writes_into_folder,
    writes_whole_tree,
)
from contop.security.findings import BLOCK, CONFIRM
from contop.security.paths import Place, other_state_dir
from contop.security.state import State


def plain_ssh(value: str, inv: Invocation, st: State) -> bool:
    """Whether a remote-shell setting (rsync -e, GIT_SSH_COMMAND, core.sshCommand) runs ssh itself: its options
    are then judged as ssh's own."""
    words = split_words(value)
    folder = words[0].rpartition("/")[0] if words else ""
    if not words or normalise(words[0]) != "ssh" or (folder and not PROGRAM_DIR.fullmatch(folder + "/")):
        return False
    _ssh(Invocation("ssh", words[1:], inv.text), st)
    return True


# ------------------------------------------------------------------------------------------- network


def _netcat(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if any(a in ("-e", "-c", "--exec", "--sh-exec", "--lua-exec") or re.match(r"^-[a-z]*e$", a) for a in lowered):
        st.add(BLOCK, "opens a remote shell (netcat -e)", inv.text)
    if inv.name == "socat" and any(re.match(r"^(exec|system):", a) for a in lowered):
        st.add(BLOCK, "opens a remote shell (socat exec)", inv.text)
    if inv.name == "socat":
        _socat_files(inv, st)


_SOCAT_VALUED = frozenset({"-b", "-t", "-T", "-L", "-W", "-r", "-R", "-lf", "-lp", "-S"})
_SOCAT_FILE = re.compile(r"(?:(file|gopen|open|create|pipe):|(?=[^:,]*/))([^,]+)(.*)", re.IGNORECASE | re.DOTALL)
_SOCAT_NET = re.compile(
    r"(tcp|udp|sctp|dccp|udplite|openssl|ssl|socks|proxy|ip|vsock|ip-sendto|udp-sendto)[\w-]*[:,]", re.IGNORECASE
)


def _socat_files(inv: Invocation, st: State) -> None:
    """socat's two addresses: a file address (``FILE:~/.bashrc,append``, ``OPEN:…``, a bare path) is written
    with what the other end sends, and read and sent when that end is the network; its -lf, -r and -R options
    write files too. With -u data only flows from the first address to the second, with -U the other way."""
    addresses: list[str] = []
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _SOCAT_VALUED:
            if arg in ("-lf", "-r", "-R") and i + 1 < len(args):
                writes_file(args[i + 1], arg == "-lf", inv, st)
            i += 2
            continue
        if arg == "-" or not arg.startswith("-"):
            addresses.append(arg)
        i += 1
    if len(addresses) != 2:
        return
    written = {"-u": [1], "-U": [0]}.get(next((a for a in args if a in ("-u", "-U")), ""), [0, 1])
    for k, address in enumerate(addresses):
        match = _SOCAT_FILE.match(address)
        if match is None:
            continue
        path, options = match.group(2), match.group(3).lower()
        st.check_paths([path], inv.text)
        network = _SOCAT_NET.match(addresses[1 - k]) is not None
        if k in written:
            if network:
                downloads_into(path, inv, st)
            writes_file(path, "append" in options.split(","), inv, st)
        if network and 1 - k in written:
            st.add(CONFIRM, SENDS_A_FILE, inv.text)


# host:path, user@host:path, [fe80::1]:path, rsync's host::module and rsync://: a colon before any slash.
_REMOTE = re.compile(r"^(?:[\w.-]+@)?(?:\[[^\]/]*\]|[\w.-]+):")
_DRIVE = re.compile(r"^[A-Za-z]:")


def remote_operand(word: str, st: State) -> bool:
    """Whether an scp, rsync or sftp operand names another computer. scp and rsync take any name before a colon
    (and before any slash) for a host, one letter long too (``scp x h:``); only where paths are Windows ones is
    ``C:`` a drive instead."""
    return _REMOTE.match(word) is not None and not (st.windows and _DRIVE.match(word) is not None)


def _copy_out(inv: Invocation, st: State) -> None:
    """scp/rsync/sftp: shipping the home directory to another host; rsync --delete empties its destination."""
    if inv.name == "rsync":
        _rsync_shell(inv, st)
    else:
        _ssh(inv, st)
    opts, operands = split_opts(inv.args)
    remote = [o for o in operands if remote_operand(o, st)]
    if remote and any(st.place(o) >= Place.HOME for o in operands if o not in remote):
        st.add(BLOCK, "copies your home directory to another machine", inv.text)
    if inv.name == "rsync" and len(operands) >= 2:
        if any(o.startswith("--delete") or o in ("--del", "--remove-source-files") for o in opts):
            local = [o for o in operands if o not in remote]
            if "--remove-source-files" in opts:
                judge_deletion(local[:-1] or local, True, inv, st)
            if any(o.startswith(("--delete", "--del")) for o in opts) and operands[-1] not in remote:
                judge_deletion([operands[-1]], False, inv, st, verb="deletes the destination's extra")
    if has_flag(opts, "ra", "--recursive", "--archive"):
        reads_whole_tree(operands[:-1], inv, st)
    _copy_destination(inv, st)
    _sends_file(inv, st)


# rsync's long options whose value may be the next word (its short ones: -e, -f, -B, -T, -M, -@).
_RSYNC_VALUED = frozenset({"--rsh", "--filter", "--exclude", "--include",
                           "--exclude-from", "--include-from", "--files-from", "--block-size", "--temp-dir",
                           "--remote-option", "--modify-window", "--rsync-path", "--backup-dir", "--suffix",
                           "--chmod", "--chown", "--usermap", "--groupmap", "--compare-dest", "--copy-dest",
                           "--link-dest", "--partial-dir", "--log-file", "--log-file-format", "--out-format",
                           "--password-file", "--port", "--sockopts", "--timeout", "--contimeout", "--bwlimit",
                           "--max-size", "--min-size", "--max-delete", "--max-alloc", "--iconv", "--checksum-choice",
                           "--compress-choice", "--compress-level", "--skip-compress", "--write-batch",
                           "--only-write-batch", "--read-batch", "--protocol", "--info", "--debug", "--address",
                           "--outbuf", "--stop-after", "--stop-at"})  # fmt: skip


def _copy_destination(inv: Invocation, st: State) -> None:
    """Where rsync or scp writes on this computer (``rsync x /etc/cron.d/x``, ``scp host:x ~/.bashrc``): judged
    as cp's destination is, and as a download when the files come from another host; rsync's --log-file too."""
    operands: list[str] = []
    args = inv.args
    valued = _SSH_VALUED["scp"] if inv.name == "scp" else "efBTM@"
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--":
            operands += args[i + 1 :]
            break
        if inv.name == "rsync" and arg.split("=", 1)[0] == "--log-file":
            writes_file(arg.split("=", 1)[1] if "=" in arg else following, True, inv, st)
        if arg.startswith("--"):
            i += 2 if arg in _RSYNC_VALUED and inv.name == "rsync" else 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            first = next((k for k, c in enumerate(arg) if c in valued), -1)
            i += 2 if first == len(arg) - 1 else 1  # '-P 2222', '-avze ssh': the value is the next word
            continue
        operands.append(arg)
        i += 1
    if len(operands) < 2 or remote_operand(operands[-1], st):
        return
    sources, dest = operands[:-1], operands[-1]
    download = any(remote_operand(s, st) for s in sources)
    whole = [s for s in sources if s.endswith(("/", "/.")) and inv.name == "rsync"]  # 'src/': what it holds
    line = CopyLine([], operands, [s for s in sources if s not in whole], dest)
    for target in landing_files(line, st):
        if download:
            downloads_into(target, inv, st)
        else:
            judge_write_target(target, False, inv, st, guess_existing=False)
    if whole:
        writes_whole_tree(dest, inv, st)
    if download and (whole or any(a in ("-r", "--recursive", "-a", "--archive") for a in args)):
        writes_into_folder(dest, inv, st, download=True)


# ssh-family options with a value: -o ProxyCommand=…, -F config, -E log, -I library, -S program, -D server
_SSH_VALUED = {"ssh": "BbcDEeFIiJLlmOoPpQRSWw", "scp": "cDFiJlOoPSX", "sftp": "BbcDFiJloPRSsX"}
_SSH_RUNS = ("proxycommand", "localcommand", "knownhostscommand", "permitlocalcommand")
_SSH_LIBRARY = ("pkcs11provider", "securitykeyprovider")
_SSH_CONFIG_RUNS = re.compile(r"^\s*(proxycommand|localcommand|knownhostscommand|match\s.*\bexec)\b", re.I | re.M)


def _ssh_options(inv: Invocation, st: State) -> list[tuple[str, str]]:
    """ssh's, scp's or sftp's short options with their values (``-oProxyCommand=…``, ``-vo X``)."""
    valued = _SSH_VALUED.get(inv.name, _SSH_VALUED["ssh"])
    found: list[tuple[str, str]] = []
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-") or len(arg) < 2:
            if inv.name == "ssh":
                break  # the host: what follows is the remote command
            i += 1
            continue
        for k, letter in enumerate(arg[1:], 1):
            if letter in valued:
                value = arg[k + 1 :]
                if not value and i + 1 < len(args):
                    value, i = args[i + 1], i + 1
                found.append((letter, value))
                break
        i += 1
    return found


def _ssh(inv: Invocation, st: State) -> None:
    """``ssh -o ProxyCommand=…`` (and LocalCommand, KnownHostsCommand) runs a command on this computer; a
    config file (-F) may set the same; -E appends ssh's log to a file; -I and the provider options load a
    library; scp's and sftp's -S (and sftp's -D) name the program to run instead of ssh."""
    whose = f"{inv.name}'s"
    for letter, value in _ssh_options(inv, st):
        if letter == "o":
            key, _, setting = value.replace("=", " ", 1).partition(" ")
            key, setting = key.strip().lower(), setting.strip()
            if key in _SSH_RUNS and setting.lower() not in ("", "none", "no"):
                st.add(CONFIRM, f"runs a command given in {whose} options", inv.text)
                if key != "permitlocalcommand":
                    nested(setting, st)
            elif key in _SSH_LIBRARY and setting.lower() not in ("", "none", "internal"):
                st.add(CONFIRM, f"loads a library given in {whose} options", inv.text)
        elif letter == "F" and value not in ("/dev/null", "none"):
            text = script_text(value, st)
            if text is None or _SSH_CONFIG_RUNS.search(text):
                st.add(CONFIRM, f"runs a command given in {whose} options", inv.text)
        elif letter == "E" and inv.name == "ssh":
            writes_file(value, True, inv, st)
        elif letter == "I" and inv.name == "ssh":
            st.add(CONFIRM, f"loads a library given in {whose} options", inv.text)
        elif (letter == "S" and inv.name != "ssh") or (letter == "D" and inv.name == "sftp"):
            if normalise(value) != "ssh" and not value.startswith(("/usr/lib/", "/usr/libexec/")):
                runs_given_command(value, whose, inv, st)


def _rsync_shell(inv: Invocation, st: State) -> None:
    """``rsync -e 'sh -c …'`` runs that command instead of ssh; ``-e 'ssh -o ProxyCommand=…'`` is judged as ssh."""
    values = option_values(inv.args, "", "--rsh")
    for arg_i, arg in enumerate(inv.args):
        if arg.startswith("-") and not arg.startswith("--") and "e" in arg[1:]:
            k = arg.index("e")
            value = arg[k + 1 :] or (inv.args[arg_i + 1] if arg_i + 1 < len(inv.args) else "")
            values.append(value)
    for value in values:
        if not plain_ssh(value, inv, st) and normalise(split_words(value)[0] if split_words(value) else "") != "rsh":
            runs_given_command(value, "rsync's", inv, st)


def _sends_file(inv: Invocation, st: State) -> None:
    """curl -F f=@x, -T x, -d @x; wget --post-file x; scp and rsync to a host: a file leaves this computer."""
    args = inv.args
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        if inv.name == "curl":
            for short, longs, sends in _CURL_UPLOADS:
                attached = arg[2:] if short and arg.startswith(short) and len(arg) > 2 else None
                if arg == short or arg in longs or attached is not None:
                    if sends.search(attached if attached is not None else value):
                        st.add(CONFIRM, SENDS_A_FILE, inv.text)
                        return
            if arg in ("-K", "--config") or (arg.startswith("-K") and len(arg) > 2):
                st.add(CONFIRM, CURL_CONFIG, inv.text)  # its lines may be -T, -F or -d @: anything can be sent
                return
        elif inv.name == "wget" and arg.split("=", 1)[0] in ("--post-file", "--body-file"):
            st.add(CONFIRM, SENDS_A_FILE, inv.text)
            return
    if inv.name in ("scp", "rsync"):
        _, operands = split_opts(args)
        if (
            len(operands) >= 2
            and remote_operand(operands[-1], st)
            and not all(remote_operand(o, st) for o in operands[:-1])
        ):
            st.add(CONFIRM, SENDS_A_FILE, inv.text)


SENDS_A_FILE = "sends a file from this computer to another one"
CURL_CONFIG = "takes curl's options from a file, which can send files from this computer to another one"
_AT_FILE = re.compile(r"^@(?!-$).")  # '@file', not '@-' (standard input, judged with the pipeline)
# (short option, long options, what in its value names a file to send)
_CURL_UPLOADS = (
    ("-F", ("--form",), re.compile(r"=[@<](?!-(;|$))")),
    ("-T", ("--upload-file",), re.compile(r"^(?!-$).")),
    ("-d", ("--data", "--data-binary", "--data-ascii", "--json"), _AT_FILE),
    ("", ("--data-urlencode",), re.compile(r"^[^=]*@(?!-$).")),
    ("-H", ("--header",), _AT_FILE),  # headers read from a file are sent
)


def sends_away(sources: list[str], inv: Invocation, st: State) -> None:
    """Files or folders a transfer tool sends to another computer: asked about, as ``scp x host:`` is; the home
    folder (or a folder above it) blocked, as scp's is. A protected name among them is blocked by the argument
    check every command gets; ``sources`` may also hold names that check cannot see (those inside a script)."""
    st.add(CONFIRM, SENDS_A_FILE, inv.text)
    st.check_paths([s for s in sources if s and s != "-"], inv.text)
    if any(st.place(s) >= Place.HOME for s in sources if s and s != "-"):
        st.add(BLOCK, "copies your home directory to another machine", inv.text)


_TRANSFER_SENDS = frozenset({"put", "mput", "reput", "append", "send", "mirror", "tput"})
_TRANSFER_REVERSE = frozenset({"-R", "--reverse"})


def transfer_script(text: str, inv: Invocation, st: State) -> None:
    """The commands an ftp, sftp, lftp, smbclient or tftp session runs (``put .ssh/id_rsa``, ``lcd ~/.ssh; put
    id_rsa``, ``mirror -R ~ /x``): the local files their put commands send, each named from the local folder that
    ``lcd`` chose. ``mirror`` sends only with -R; ``get`` and the rest fetch or list."""
    local = ""
    recurse = False
    for line in re.split(r"[;\n]|&&|\|\|", text):
        words = split_words(line)
        if not words:
            continue
        verb = words[0].lower().lstrip("-")  # sftp's '-put': the same, errors ignored
        recurse = recurse or verb == "recurse"
        if verb == "lcd" and len(words) > 1:
            local = words[1] if words[1].startswith(("/", "~", "$")) or not local else in_folder(local, words[1], st)
        elif verb in _TRANSFER_SENDS and (verb != "mirror" or _TRANSFER_REVERSE & set(words)):
            operands = [w for w in words[1:] if not w.startswith("-")]
            if verb == "mirror" or (verb == "put" and len(operands) > 1):
                operands = operands[:1]  # 'put LOCAL REMOTE', 'mirror -R LOCAL REMOTE'
            if verb == "mirror" and not operands:
                operands = ["."]
            if recurse or "-r" in words:  # 'recurse; mput *', 'put -r *': the folder and everything under it
                operands = ["." if o in ("*", "*.*") else o for o in operands]
            named = [in_folder(local, o, st) if local and not o.startswith(("/", "~", "$")) else o for o in operands]
            sends_away(named or ["."], inv, st)


INPUT_COMMANDS = "transfers files as told by commands on its input, which this line does not show"


def _transfer_client(inv: Invocation, st: State) -> None:
    """ftp, lftp, smbclient, tftp and sftp in their command mode: the commands given in an option (``lftp -e``,
    ``smbclient -c``, ``tftp -c``), in a here-document or here-string, or in a batch file (``sftp -b``) are
    judged by ``transfer_script``; commands read from a pipe or a file this line does not show may send
    anything, so they ask."""
    args = inv.args
    name = inv.name
    if name == "sftp":
        _copy_out(inv, st)
        _, operands = split_opts([a for i, a in enumerate(args) if i == 0 or not _sftp_value(args, i)])
        if len(operands) != 1 or _REMOTE_PATH.match(operands[0]):  # 'sftp h:file' fetches a file
            return
    given = option_values(args, "-e", "-c") if name == "lftp" else option_values(args, "-c", "--command")
    if name == "tftp":  # 'tftp h -c put F' (tftp-hpa), 'tftp -p -l F h' (busybox)
        given = [" ".join(args[args.index("-c") + 1 :])] if "-c" in args else []
        if "-p" in args or "--put" in args:
            sends_away(option_values(args, "-l", "--local") or ["-"], inv, st)
            return
    for text in given:
        transfer_script(text, inv, st)
    batch = option_values(args, *_BATCH.get(name, ("",)))
    if name == "smbclient" and ("-L" in args or any(a.startswith("--list") for a in args)):
        return
    if name == "ftp" and args and all("://" in o for o in split_opts(args)[1]):  # 'ftp ftp://h/file' fetches it
        return
    ends = name != "lftp" or "-c" in args or any(re.search(r"\b(bye|exit|quit)\b", t) for t in given)
    if given and ends and not batch:
        return
    fed = stdin_text(inv, st) if not batch or batch[-1] in ("-", "/dev/stdin") else None
    if fed is None:
        st.add(CONFIRM, INPUT_COMMANDS, inv.text)
    else:
        transfer_script(fed, inv, st)


_BATCH = {"sftp": ("-b", "--batchfile"), "lftp": ("-f",), "ftp": ("-s",)}  # a file of commands
_REMOTE_PATH = re.compile(r"^(?:sftp://[^/]+/.|(?:[\w.-]+@)?(?:\[[^\]/]*\]|[\w.-]+):.)")


def _sftp_value(args: list[str], i: int) -> bool:
    """Whether ``args[i]`` is the value of the sftp option before it (``-P 2222``, ``-i key``)."""
    before = args[i - 1]
    return before.startswith("-") and len(before) == 2 and before[1] in _SSH_VALUED["sftp"]


def _croc(inv: Invocation, st: State) -> None:
    """``croc send X``, ``wormhole send X``: files sent to whoever holds the code."""
    _, operands = split_opts(inv.args)
    if "send" in operands:
        sends_away(operands[operands.index("send") + 1 :], inv, st)


def _mail(inv: Invocation, st: State) -> None:
    """``mail -a F``, ``mutt -a F --``, ``mailx -A F``: a file sent as an attachment."""
    attached: list[str] = []
    for i, arg in enumerate(inv.args):
        if arg in ("-a", "-A", "--attach") and i + 1 < len(inv.args):
            values = inv.args[i + 1 :] if inv.name == "mutt" else inv.args[i + 1 : i + 2]  # mutt: '-a F G --'
            attached += values[: values.index("--")] if "--" in values else values
        elif arg.startswith(("--attach=", "-a", "-A")) and len(arg) > 2 and not arg.startswith("--attach-"):
            attached.append(arg.split("=", 1)[1] if arg.startswith("--") else arg[2:])
    if attached:
        sends_away(attached, inv, st)


_HTTPIE_FILE = re.compile(r"^[^=:@\s]*(?::=|=)?@(?!-$).")  # 'f@file', 'f=@file', 'f:=@file.json', '@file'


def _httpie(inv: Invocation, st: State) -> None:
    """httpie and xh: request items that read a file (``f@x``, ``f=@x``, ``f:=@x``) send it."""
    _, operands = split_opts(inv.args)
    files = [o.split("@", 1)[1] for o in operands[1:] if _HTTPIE_FILE.match(o)]
    if files:
        sends_away(files, inv, st)


def _gh(inv: Invocation, st: State) -> None:
    """``gh gist create F``, ``gh release upload TAG F``, ``gh release create TAG F``: files published."""
    _, operands = split_opts(inv.args)
    if operands[:2] == ["gist", "create"]:
        sends_away(operands[2:] or ["-"], inv, st)
    elif operands[:2] in (["release", "upload"], ["release", "create"]) and len(operands) > 3:
        sends_away(operands[3:], inv, st)


def _file_server(inv: Invocation, st: State) -> None:
    """Servers that share a folder with the network (``darkhttpd DIR``, ``caddy file-server --root DIR``,
    ``twistd web --path DIR``, ``webfsd -r DIR``; caddy and webfsd share the working folder by default), judged as
    ``python3 -m http.server`` is."""
    from contop.security.embedded import shares_folder

    args = inv.args
    if inv.name == "darkhttpd":
        folder = args[0] if args and not args[0].startswith("-") else None
        bind = next((v for v in option_values(args, "", "--addr") if v), "")
    elif inv.name == "caddy":
        if args[:1] != ["file-server"]:
            return
        folder = next((v for v in option_values(args, "-r", "--root") if v), st.cwd)
        listen = next((v for v in option_values(args, "-l", "--listen") if v), "")
        bind = listen.rsplit(":", 1)[0].strip("[]") if ":" in listen else listen
    elif inv.name == "twistd":
        if "web" not in args:
            return
        folder = next((v for v in option_values(args, "", "--path") if v), None)
        bind = next((m.group(1) for a in args for m in [re.search(r"interface=([^:]+)", a)] if m), "")
    else:  # webfsd
        folder = next((v for v in option_values(args, "-r") if v), st.cwd)
        bind = next((v for v in option_values(args, "-i") if v), "")
    if folder is not None:
        shares_folder(folder, bind, st, inv.text)


# ------------------------------------------------------------------------------------------- where downloads land


def _fetch(inv: Invocation, st: State) -> None:
    """curl and wget: a file they send (``_sends_file``), and where what they fetch lands when the line names a
    folder or the URL names the file (``wget -P /etc/cron.d URL``, ``curl URL/.bashrc --output-dir ~ -O``).
    Their -o and -O files are judged with the other downloads of the line, in ``posix``."""
    _sends_file(inv, st)
    if inv.name == "curl":
        _curl_downloads(inv, st)
    else:
        _wget_downloads(inv, st)


# curl's short options that take a value, and long ones (curl takes no '--name=value').
_CURL_VALUED = "AbcCdDeEFHKmoPQrtTuUwxXyYz"
_CURL_LONG_VALUED = frozenset({"--output", "--output-dir", "--url", "--header", "--data", "--data-binary",
                               "--data-raw", "--data-ascii", "--data-urlencode", "--json", "--form", "--form-string",
                               "--user", "--user-agent", "--referer", "--proxy", "--request", "--cookie",
                               "--cookie-jar", "--dump-header", "--config", "--max-time", "--connect-timeout",
                               "--retry", "--write-out", "--upload-file", "--cacert", "--capath", "--cert", "--key",
                               "--range", "--resolve", "--connect-to", "--trace", "--trace-ascii", "--stderr",
                               "--libcurl", "--etag-save", "--etag-compare", "--hsts", "--alt-svc", "--limit-rate",
                               "--interface", "--oauth2-bearer", "--proto", "--proto-redir", "--unix-socket",
                               "--variable", "--proxy-user", "--time-cond", "--max-filesize"})  # fmt: skip
# Files curl writes with what the server sends besides the body: headers, traces, cookies.
_CURL_WRITES = frozenset({"-D", "-c", "--dump-header", "--cookie-jar", "--trace", "--trace-ascii", "--stderr",
                          "--libcurl", "--etag-save", "--hsts", "--alt-svc"})  # fmt: skip


def _curl_downloads(inv: Invocation, st: State) -> None:
    urls: list[str] = []
    outputs: list[str] = []
    folder: str | None = None
    remote_name = header_name = False
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        name, value = "", ""
        if arg == "--":
            urls += args[i + 1 :]
            break
        if arg.startswith("--"):
            name, eq, attached = arg.partition("=")  # --output-dir=DIR as --output-dir DIR
            remote_name = remote_name or name in ("--remote-name", "--remote-name-all")
            header_name = header_name or name == "--remote-header-name"
            if eq:
                value = attached
            elif name in _CURL_LONG_VALUED:
                value, i = following, i + 1
        elif arg.startswith("-") and len(arg) > 1:
            for k, letter in enumerate(arg[1:], 1):
                remote_name = remote_name or letter == "O"
                header_name = header_name or letter == "J"
                if letter in _CURL_VALUED:
                    name, value = "-" + letter, arg[k + 1 :]
                    if not value:
                        value, i = following, i + 1
                    break
        else:
            urls.append(arg)
        if name in ("-o", "--output") and value != "-":
            outputs.append(value)
        elif name == "--output-dir":
            folder = value
        elif name == "--url":
            urls.append(value)
        elif name in _CURL_WRITES and value not in ("-", "%"):
            downloads_into(value, inv, st)
        i += 1
    if folder is not None:  # curl puts its -o files there too, whatever their path
        for output in outputs:
            downloads_into(folder.rstrip("/") + "/" + output.lstrip("/"), inv, st)
    if remote_name:
        for url in urls:
            for name in _url_names(url):
                downloads_into(in_folder(folder or ".", name, st), inv, st)
        if header_name:  # the server names the file
            writes_into_folder(folder or ".", inv, st, download=True)


_WGETRC = {"dirprefix": "-P", "outputdocument": "-O", "logfile": "-o"}  # .wgetrc commands that name a file
_WGET_VALUED = "oaeiBtOTwQPUlARDXIn"  # '-nd' is -n with the value d
_WGET_LONG = (("--directory-prefix", "--dir"), ("--output-document", "--output-d"), ("--output-file", "--output-f"),
              ("--append-output", "--ap"), ("--execute", "--exe"), ("--input-file", "--inp"),
              ("--recursive", "--recu"), ("--mirror", "--mi"), ("--content-disposition", "--conte"),
              ("--trust-server-names", "--tru"))  # fmt: skip
_WGET_LONG_VALUED = frozenset({"--directory-prefix", "--output-document", "--output-file", "--append-output",
                               "--execute", "--input-file", "--header", "--user-agent", "--referer", "--base",
                               "--tries", "--timeout", "--wait", "--quota", "--level", "--accept", "--reject",
                               "--domains", "--user", "--password", "--method", "--body-data", "--post-data",
                               "--post-file", "--body-file", "--load-cookies", "--save-cookies", "--config",
                               "--default-page", "--warc-file", "--rejected-log"})  # fmt: skip


def _wget_downloads(inv: Invocation, st: State) -> None:
    """wget saves each URL under its name in the -P folder (the working one by default), unless -O names the
    file; a recursive fetch, a list of URLs or a name the server gives lands anywhere in that folder."""
    urls: list[str] = []
    folder = "."
    named = anywhere = False
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        name, value, command = "", "", False
        if arg.startswith("--"):
            name = long_option(arg, _WGET_LONG)
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif name in _WGET_LONG_VALUED:
                value, i = following, i + 1
        elif arg.startswith("-") and len(arg) > 1:
            for k, letter in enumerate(arg[1:], 1):
                anywhere = anywhere or letter in "rm"
                if letter in _WGET_VALUED:
                    name, value = "-" + letter, arg[k + 1 :]
                    if not value:
                        value, i = following, i + 1
                    break
        else:
            urls.append(arg)
        if name in ("-e", "--execute"):  # a .wgetrc command: 'dir_prefix = DIR', 'output_document = FILE'
            key, _, setting = value.partition("=")
            key, setting = key.strip().lower().replace("_", "").replace("-", ""), setting.strip()
            name, value, command = _WGETRC.get(key, ""), setting, True
        if name in ("-P", "--directory-prefix"):
            folder = value or "."
        elif name in ("-O", "--output-document"):
            named = True
            if command and value != "-":
                downloads_into(value, inv, st)  # posix judges -O itself, not one a .wgetrc command sets
        elif name in ("-o", "-a", "--output-file", "--append-output"):
            writes_file(value, name in ("-a", "--append-output"), inv, st)
        anywhere = anywhere or name in ("-i", "--input-file", "--recursive", "--mirror", "--content-disposition",
                                        "--trust-server-names")  # fmt: skip
        i += 1
    if not named:
        for url in urls:
            for name in _url_names(url) or ["index.html"]:
                downloads_into(in_folder(folder, name, st), inv, st)
    if anywhere:
        writes_into_folder(folder, inv, st, download=True)


def _url_names(url: str) -> list[str]:
    """The names a download of ``url`` is saved under: the last part of its path, as written and decoded."""
    rest = url.split("://", 1)[1] if "://" in url else url
    path = rest.split("?", 1)[0].split("#", 1)[0]
    if "/" not in path:
        return []
    raw = base_name(path) if not path.endswith("/") else ""
    return [name for name in dict.fromkeys((raw, unquote(raw))) if name]


# ------------------------------------------------------------------------------------------- files other tools write


def _awk(inv: Invocation, st: State) -> None:
    """``awk '{print > "/root/.bashrc"}'``: print and printf redirected to a file write it, as ``>`` would; gawk's
    inplace library (``gawk -i inplace '…' FILE``) rewrites each file it reads, as ``sed -i`` does."""
    from contop.security.embedded import code_argument, judge_code

    line = awk_line(inv.args)
    given = dict(a.split("=", 1) for a in line.assignments if "=" in a)
    seen = code_argument(inv)
    for program in line.programs:
        if seen is None or program not in seen:  # one the interpreter rules did not judge (kept as a backstop)
            judge_code("awk", program, st, inv.text)
        for target, append in awk_outputs(program, given):
            writes_file(target, append, inv, st)
        _awk_pipes(program, inv, st)
    if line.in_place or any(_AWK_INCLUDES_INPLACE.search(p) for p in line.programs):
        _awk_in_place(line, inv, st)


@dataclass(slots=True)
class AwkLine:
    """What an awk command line holds, read as gawk reads it: the program texts (``-e``/``--source``, else the
    first operand), program files (``-f``, ``-E``), whether the inplace library is included (``-i inplace``,
    ``--include=inplace``), the ``-v`` assignments, and the operands after the program: files, and assignments
    (``var=value``) that take effect before the files after them."""

    programs: list[str] = field(default_factory=list)
    program_files: list[str] = field(default_factory=list)
    in_place: bool = False
    assignments: list[str] = field(default_factory=list)
    operands: list[str] = field(default_factory=list)


# gawk's short options that take a value (the rest of the word, else the next one); -d, -D, -L, -o and -p take
# one only in the same word. Its long options, with the shortest abbreviation getopt takes for each.
_AWK_VALUED = "FfvWeEilZ"
_AWK_LONG = (("--assign", "--a"), ("--exec", "--e"), ("--field-separator", "--fie"), ("--file", "--fil"),
             ("--include", "--i"), ("--load", "--loa"), ("--locale", "--loc"), ("--source", "--so"))  # fmt: skip
_AWK_SHORT_NAMES = {"-v": "--assign", "-E": "--exec", "-F": "--field-separator", "-f": "--file", "-i": "--include",
                    "-l": "--load", "-Z": "--locale", "-e": "--source"}  # fmt: skip
_AWK_INPLACE = frozenset({"inplace", "inplace.awk"})
# A program that includes the library itself, or calls the functions of the extension it loads ('-l inplace').
_AWK_INCLUDES_INPLACE = re.compile(r'@include\s+"(?:[^"]*/)?inplace(?:\.awk)?"|\binplace(?:_|::)begin\s*\(')
_AWK_NAME = re.compile(r"[A-Za-z_][\w:]*=", re.ASCII)  # 'var=value' and gawk's 'inplace::suffix=…' operands


def awk_line(args: list[str]) -> AwkLine:
    """Read an awk command line. Options end at the first word that is not one (the program, or a file when a
    program came with an option), at ``--``, and after ``-E FILE``; ``-W name=value`` is gawk's other spelling of
    ``--name=value``."""
    line = AwkLine()
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--" or not arg.startswith("-") or arg == "-":
            i += arg == "--"
            break
        i += 1
        name, value = "", ""
        if arg.startswith("--"):
            name = long_option(arg, _AWK_LONG)
            if name in _AWK_SHORT_NAMES.values():
                if "=" in arg:
                    value = arg.split("=", 1)[1]
                else:
                    value, i = following, i + 1
        else:
            for k, letter in enumerate(arg[1:], 1):
                if letter in _AWK_VALUED:
                    value = arg[k + 1 :]
                    if not value:
                        value, i = following, i + 1
                    name = "-" + letter
                    break
            if name == "-W":  # '-W source=…' and '-Wsource=…': gawk's other spelling of '--source=…'
                name, _, value = value.partition("=")
                name = long_option("--" + name, _AWK_LONG)
            name = _AWK_SHORT_NAMES.get(name, name)
        if name == "--source":
            line.programs.append(value)
        elif name in ("--file", "--exec"):
            line.program_files.append(value)
        elif name == "--include":
            line.in_place = line.in_place or base_name(value) in _AWK_INPLACE
        elif name == "--assign":
            line.assignments.append(value)
        if name == "--exec":
            break
    rest = args[i:]
    if not line.programs and not line.program_files and rest:
        line.programs.append(rest[0])
        rest = rest[1:]
    line.operands = rest
    return line


def _awk_in_place(line: AwkLine, inv: Invocation, st: State) -> None:
    """gawk's inplace library writes what the program prints back into each file operand, as ``sed -i`` does, and
    keeps a copy of the old one under the name plus ``inplace::suffix`` (``INPLACE_SUFFIX`` before gawk 5) when
    one is set, on the line or with -v; an operand ``var=value`` sets it for the files after it."""
    suffix = ""
    for assignment in line.assignments:
        name, _, value = assignment.partition("=")
        suffix = value if name in ("inplace::suffix", "INPLACE_SUFFIX") else suffix
    files: list[str] = []
    for operand in line.operands:
        if _AWK_NAME.match(operand):
            name, _, value = operand.partition("=")
            suffix = value if name in ("inplace::suffix", "INPLACE_SUFFIX") else suffix
        elif operand != "-":
            files.append(operand)
            if suffix:
                edits_in_place(operand + suffix, inv, st)
    edits_files_in_place(files, inv, st)


# awk runs a shell command for `print | "cmd"`, `"cmd" | getline` and gawk's `|&` coprocesses, as system() does.
_AWK_TO_COMMAND = re.compile(r'(?<!\|)\|&?(?!\|)\s*(?:"((?:[^"\\]|\\.)*)"|(?!getline\b)[A-Za-z_$(])')
_AWK_FROM_COMMAND = re.compile(r'"((?:[^"\\]|\\.)*)"\s*\|&?\s*getline\b|[A-Za-z_\])]\s*\|&?\s*getline\b')


def _awk_pipes(program: str, inv: Invocation, st: State) -> None:
    """The commands an awk program pipes to or reads from: a literal one is judged as a command line; one built
    when the program runs asks."""
    from contop.security.posix import analyze_nested

    for pattern in (_AWK_TO_COMMAND, _AWK_FROM_COMMAND):
        for match in pattern.finditer(program):
            if match.group(1) is None:
                st.add(CONFIRM, "awk runs a command built when it runs (a pipe to or from a command)", inv.text)
                continue
            command = match.group(1).replace('\\"', '"')
            words = command.split()
            if pattern is _AWK_TO_COMMAND and words and normalise(words[0]) in SHELLS | INTERPRETERS:
                options = [w for w in words[1:] if w.startswith("-")]
                if len(options) == len(words) - 1 and not any(o in ("-c", "-e", "-E") for o in options):
                    st.add(CONFIRM, "awk feeds what it prints to a shell or interpreter as its script", inv.text)
            analyze_nested(command, st)


_AWK_PRINT = re.compile(r"\bprintf?\b")
_AWK_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)|(\S)')


def awk_outputs(program: str, given: dict[str, str]) -> list[tuple[str, bool]]:
    """The files an awk program's print and printf statements write (``> FILE``, ``>> FILE``), each with whether it
    is appended to. A file name built from the input (``$1 ".txt"``) keeps its literal parts around a stand-in."""
    found: list[tuple[str, bool]] = []
    n = len(program)
    i = 0
    while i < n:
        c = program[i]
        if c == '"':
            i = _awk_string_end(program, i)
            continue
        match = _AWK_PRINT.match(program, i)
        if match is None or (i and (program[i - 1].isalnum() or program[i - 1] == "_")):
            i += 1
            continue
        j, depth = match.end(), 0
        while j < n:  # to the end of the statement, skipping strings and what is in parentheses
            c = program[j]
            if c == '"':
                j = _awk_string_end(program, j)
                continue
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif depth <= 0 and (c in ";}\n" or c == "|"):
                break
            elif depth <= 0 and c == ">":
                append = program.startswith(">>", j)
                end = j + (2 if append else 1)
                while end < n and (program[end] not in ";}\n" or _inside_string(program, j, end)):
                    end += 1
                found.append((_awk_name(program[j + (2 if append else 1) : end], program, given), append))
                j = end
                break
            j += 1
        i = j
    return found


def _awk_string_end(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return j + 1


def _inside_string(text: str, start: int, at: int) -> bool:
    quotes, j = 0, start
    while j < at:
        if text[j] == "\\":
            j += 2
            continue
        quotes += text[j] == '"'
        j += 1
    return quotes % 2 == 1


def _awk_name(expression: str, program: str, given: dict[str, str]) -> str:
    """A redirection's file name: literals as written, variables given one literal (in the program or with -v) as
    that, anything else as a stand-in name."""
    parts: list[str] = []
    for literal, word, other in _AWK_TOKEN.findall(expression):
        if other == "" and word == "":
            parts.append(re.sub(r"\\(.)", r"\1", literal))
        elif word:
            assigned = re.search(rf'\b{word}\s*=\s*"((?:[^"\\]|\\.)*)"', program)
            parts.append(given.get(word, assigned.group(1) if assigned else "file"))
        elif other not in "()":
            parts.append("file" if other == "$" else "")
    return "".join(parts)


def _openssl(inv: Invocation, st: State) -> None:
    """``openssl enc -in x -out ~/.bashrc``: -out and -keyout write a file (openssl takes -opt, --opt, -opt=v)."""
    args = inv.args
    for i, arg in enumerate(args):
        name, eq, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in ("out", "keyout"):
            writes_file(value if eq else (args[i + 1] if i + 1 < len(args) else ""), False, inv, st)


def _accounts(inv: Invocation, st: State) -> None:
    """Creating, deleting or changing accounts, passwords, groups and who may use sudo."""
    if any(a in HELP_FLAGS for a in inv.args) or (inv.name == "passwd" and "-S" in inv.args):
        return
    st.add(CONFIRM, "changes user accounts, passwords or administrator rights", inv.text)


def _root_shell(inv: Invocation, st: State) -> None:
    """``sudo -i``, ``sudo -s``, ``su``, ``pkexec``: a shell or program with another user's rights."""
    opts, _ = split_opts(inv.args)
    if inv.name in ("su", "pkexec") or any(
        o in ("--shell", "--login") or re.fullmatch(r"-[A-Za-z]*[is][A-Za-z]*", o) for o in opts
    ):
        st.add(CONFIRM, "runs a shell or program as another user, such as root", inv.text)


_GREP_RECURSIVE = re.compile(r"-[a-zA-Z]*[rR][a-zA-Z]*|--recursive|--dereference-recursive|--directories=recurse")
_GREP_SHORT_VALUES = "efmABCdD"  # grep's short options that take a value: the rest of the word, else the next


def _grep_recursive(args: list[str]) -> bool:
    """Whether grep reads whole trees: ``-r``/``-R``, ``-d recurse`` (``-drec``), and the long options as GNU
    getopt takes them, abbreviated (``--rec``, ``--der``, ``--dir=rec``)."""
    for i, arg in enumerate(args):
        if arg == "--":
            return False
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if len(name) >= 3 and ("recursive".startswith(name) or "dereference-recursive".startswith(name)):
                return True
            if len(name) >= 2 and "directories".startswith(name) and _recurse(value if eq else following):
                return True
        elif arg.startswith("-") and len(arg) > 1:
            for j, letter in enumerate(arg[1:], 1):
                if letter in "rR":
                    return True
                if letter in _GREP_SHORT_VALUES:
                    if letter == "d" and _recurse(arg[j + 1 :] or following):
                        return True
                    break
    return False


def _recurse(value: str) -> bool:
    return len(value) >= 3 and "recurse".startswith(value)  # grep takes an unambiguous start of the word


def _grep(inv: Invocation, st: State) -> None:
    if inv.name == "ack" or _grep_recursive(inv.args):
        _, operands = split_opts(without_exclusions(inv.args))
        pattern_given = any(
            a in ("-e", "-f", "--regexp", "--file") or a.startswith(("--regexp=", "--file=")) for a in inv.args
        )
        reads_tree((operands if pattern_given else operands[1:]) or ["."], inv, st, hidden=True)


# Options of rg and ag that take a value (the next word, or the rest of a short one's word); a context count only
# when a number follows, as ag's are optional. Any other option stands alone.
_SEARCHER_SHORT_VALUES = {"rg": "efgtTMrjEdm", "ag": "GgmpW"}
_SEARCHER_LONG_VALUES = frozenset({
    "--regexp", "--file", "--glob", "--iglob", "--type", "--type-not", "--type-add", "--type-clear", "--max-columns",
    "--replace", "--max-count", "--encoding", "--threads", "--max-depth", "--maxdepth", "--ignore-file", "--pre",
    "--pre-glob", "--sort", "--sortr", "--color", "--colors", "--path-separator", "--max-filesize", "--engine",
    "--dfa-size-limit", "--regex-size-limit", "--context-separator", "--field-match-separator", "--generate",
    "--field-context-separator", "--hyperlink-format", "--hostname-bin", "--depth", "--file-search-regex",
    "--ignore", "--ignore-dir", "--path-to-ignore", "--width", "--pager", "--workers",
})  # fmt: skip
_CONTEXT = frozenset({"-A", "-B", "-C", "--context", "--after-context", "--before-context", "--after", "--before"})


def _searcher(inv: Invocation, st: State) -> None:
    """rg and ag search the folders they are given, the current one when none is, and everything below: what a
    protected entry there holds is read, unless only a hidden name leads to it, which they skip unless told
    (``--hidden``, ``-u``, ``-.``). Links named on the line are followed; ``-L`` follows the ones in the tree."""
    if any(a in HELP_FLAGS for a in inv.args):
        return
    short_values = _SEARCHER_SHORT_VALUES.get(inv.name, "")
    hidden, pattern_given = False, False
    operands: list[str] = []
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        i += 1
        if arg == "--":
            operands += args[i:]
            break
        if arg in _CONTEXT:
            i += following.isdigit()
        elif arg.startswith("--"):
            name, eq, _ = arg.partition("=")
            hidden = hidden or name in ("--hidden", "--unrestricted")
            pattern_given = pattern_given or (inv.name == "rg" and name in ("--regexp", "--file"))
            if name in _SEARCHER_LONG_VALUES and not eq:
                i += 1
        elif arg.startswith("-") and len(arg) > 1:
            for j, letter in enumerate(arg[1:], 1):
                if letter in "u.":
                    hidden = True
                elif letter in short_values:
                    pattern_given = pattern_given or (inv.name == "rg" and letter in "ef")
                    i += j == len(arg) - 1  # the value is the next word
                    break
        else:
            operands.append(arg)
    reads_tree((operands if pattern_given else operands[1:]) or ["."], inv, st, hidden=hidden)


def reads_tree(roots: list[str], inv: Invocation, st: State, *, hidden: bool) -> None:
    """``reads_whole_tree`` with this decision's resolver, which keeps what it learnt of each folder for the rest of
    the line (``grep -r x /usr/bin; `` a thousand times lists it once), and with ``hidden`` as for
    ``Policy.restricted_inside``."""
    for root in roots:
        inside = _tree_holds(root, st, hidden)
        if inside is not None:
            where = "this folder" if root in (".", "./") else root
            st.add(CONFIRM, f"reads everything under {where}, including {inside}", inv.text)
            return


def _tree_holds(root: str, st: State, hidden: bool) -> str | None:
    """What protected place the tree at ``root`` holds, said for the user, or None."""
    inside = st.restricted_inside(root, dotglob=st.dotglob, hidden=hidden)
    if inside is None and st.resolve is not None:  # judging for real: another server's state directory
        inside = other_state_dir(os.path.join(st.policy.expand(root, st.cwd), "admin.token"), st.windows)
    if inside is None:
        return None
    return inside if inside.startswith("the Contop") else f"the protected {inside}"


def _archive(inv: Invocation, st: State) -> None:
    args = inv.args
    if inv.name in ("tar", "bsdtar"):
        _tar(inv, st)
        return
    if inv.name == "zip":
        _zip(inv, st)
    creating = (inv.name == "zip" and any(re.fullmatch(r"-[a-zA-Z]*r[a-zA-Z]*", a) for a in args)) or (
        inv.name in ("7z", "7za") and args[:1] == ["a"]
    )
    if creating:
        _, operands = split_opts(without_exclusions(args[1:] if inv.name != "zip" else args, zip_style=True))
        reads_whole_tree(operands[1:], inv, st)
    elif inv.name in ("7z", "7za") and args[:1] in (["x"], ["e"]):  # '7z x a.7z -oDIR' unpacks into DIR
        writes_whole_tree(next((a[2:] for a in reversed(args) if a.startswith("-o") and len(a) > 2), "."), inv, st)


_DIFF_VALUED = "CDFILSUWXx"  # diff's short options that take a value: the rest of the word, else the next one
_DIFF_LONG_VALUED = frozenset({"--exclude", "--exclude-from", "--ignore-matching-lines", "--label",
                               "--starting-file", "--show-function-line", "--width", "--tabsize", "--ifdef",
                               "--context", "--unified", "--horizon-lines", "--color", "--palette"})  # fmt: skip
_DIFF_TREE = frozenset({"--recursive", "--new-file", "--unidirectional-new-file"})


def _diff(inv: Invocation, st: State) -> None:
    """``diff -r`` compares two whole trees, and with -N prints every file only one of them holds: a folder
    holding a protected one (``diff -rN ~ empty``) is read through, as ``grep -r`` reads it."""
    operands: list[str] = []
    tree = False
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands += args[i + 1 :]
            break
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            tree = tree or name in _DIFF_TREE
            if name in ("--from-file", "--to-file"):
                operands.append(arg.split("=", 1)[1] if "=" in arg else args[i + 1] if i + 1 < len(args) else "")
                tree = True  # each operand compared with a folder's file of the same name, or a whole folder
            i += 2 if name in _DIFF_LONG_VALUED and "=" not in arg else 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            for j, letter in enumerate(arg[1:], 1):
                tree = tree or letter in "rN"
                if letter in _DIFF_VALUED:
                    i += j == len(arg) - 1  # the value is the next word
                    break
        else:
            operands.append(arg)
        i += 1
    if tree:
        reads_tree([o for o in operands if o and o != "-"], inv, st, hidden=True)


def _name_archiver(inv: Invocation, st: State) -> None:
    """cpio -o/-p, afio -o and pax -w read the files named on their standard input (``find ~ | cpio -o``) or, for
    pax, the trees named on the line: names from a here-string are judged as files, names that ``find`` or ``git
    ls-files`` lists as the trees it lists; other names from a pipe are not shown on this line, so the user
    decides."""
    args = inv.args
    if inv.name == "pax":
        opts, operands = split_opts(args)
        if not has_flag(opts, "w"):
            return
        if operands:
            reads_tree(operands, inv, st, hidden=True)
            return
    elif not any(re.fullmatch(r"-[a-zA-Z0-9]*[op][a-zA-Z0-9]*|--create|--pass-through", a) for a in args):
        return  # '-0o', '-o0': cpio's -0 reads names ended by NUL, as 'find -print0' writes them
    names_on_input(inv, st)


def names_on_input(inv: Invocation, st: State) -> None:
    """An archiver that reads the names of the files to archive on its standard input (``cpio -o``, ``tar -T -``,
    ``zip -@``): names from a here-string are judged as files, names that ``find`` or ``git ls-files`` lists as
    the trees it lists; other names are not shown on this line, so the user decides."""
    names = stdin_text(inv, st)
    if names is None and st.piped_roots is not None:  # 'find . | cpio -o': the trees find lists, as 'tar c .'
        held = next((h for h in (_tree_holds(r, st, True) for r in st.piped_roots) if h is not None), None)
        if held is not None:
            st.add(CONFIRM, f"archives the files named on its input, which this line does not show ({held})", inv.text)
        return
    if names is None:
        st.add(CONFIRM, "archives the files named on its input, which this line does not show", inv.text)
        return
    listed = names.split()
    st.check_paths(listed, inv.text)
    reads_tree(listed, inv, st, hidden=True)


_TAR_VALUED_LETTERS = "fCTXbKNVgLFIH"  # short options that take the next word
_TAR_COMMANDS = frozenset({"--to-command", "--checkpoint-action", "--use-compress-program", "--info-script",
                           "--new-volume-script", "--rmt-command", "--rsh-command"})  # fmt: skip
_TAR_VALUED_LONG = frozenset({"--file", "--directory", "--files-from", "--exclude", "--exclude-from",
                              "--transform", "--xform", "--owner", "--group", "--mode", "--label", "--newer",
                              "--after-date", "--index-file", "--exclude-tag", *_TAR_COMMANDS})  # fmt: skip
_TAR_LONG = (("--to-command", "--to-c"), ("--checkpoint-action", "--checkpoint-"), ("--use-compress-program", "--use-"),
             ("--info-script", "--info"), ("--new-volume-script", "--new-"), ("--rmt-command", "--rmt"),
             ("--rsh-command", "--rsh"), ("--remove-files", "--rem"), ("--create", "--cr"), ("--append", "--ap"),
             ("--update", "--up"))  # fmt: skip
_COMPRESSOR = re.compile(
    r"(\S*/)?(gzip|gunzip|bzip2|xz|lzma|lzip|lzop|zstd|zstdmt|unzstd|lz4|pigz|unpigz|pbzip2|lbzip2|pixz|plzip|"
    r"brotli|compress)( +(-{1,2}[\w=.-]*|\d+))*"
)


def _tar_options(args: list[str]) -> list[tuple[str, str]]:
    """tar's options with their values, long ones spelled in full: ``-czf out.tgz`` gives ``-c``, ``-z`` and
    ``-f out.tgz``; old-style ``cfI out.tar zstd``, attached ``-Izstd`` and abbreviated ``--to-com=…`` alike."""
    found: list[tuple[str, str]] = []
    words = list(args)
    pending: list[str] = []
    if words and not words[0].startswith("-"):  # old style: the bundle's values follow in order
        found += [("-" + c, "") for c in words[0] if c not in _TAR_VALUED_LETTERS]
        pending = [c for c in words[0] if c in _TAR_VALUED_LETTERS]
        words = words[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if pending:
            found.append(("-" + pending.pop(0), word))
        elif word == "--":
            break
        elif word.startswith("--"):
            name = long_option(word, _TAR_LONG)
            value = word.split("=", 1)[1] if "=" in word else ""
            if "=" not in word and name in _TAR_VALUED_LONG and i + 1 < len(words):
                value, i = words[i + 1], i + 1
            found.append((name, value))
        elif word.startswith("-") and len(word) > 1:
            for k, letter in enumerate(word[1:], 1):
                if letter in _TAR_VALUED_LETTERS:
                    value = word[k + 1 :]
                    if not value and i + 1 < len(words):
                        value, i = words[i + 1], i + 1
                    found.append(("-" + letter, value))
                    break
                found.append(("-" + letter, ""))
        i += 1
    return found


def _tar(inv: Invocation, st: State) -> None:
    """A command tar runs (--to-command, --checkpoint-action=exec=, -I, -F), what it reads when it creates an
    archive, and --remove-files, which deletes what it archived."""
    options = _tar_options(inv.args)
    names = {name for name, _ in options}
    for name, value in options:
        if name == "--checkpoint-action":
            if value.startswith("exec="):
                runs_given_command(value[5:], "tar's", inv, st)
        elif name in ("--use-compress-program", "-I"):
            if not _COMPRESSOR.fullmatch(value.strip()):
                runs_given_command(value, "tar's", inv, st)
        elif name in _TAR_COMMANDS or name == "-F":
            runs_given_command(value, "tar's", inv, st)
    creating = bool(names & {"-c", "--create", "-r", "--append", "-u", "--update"})
    for name, value in options:
        if name in ("-T", "--files-from") and creating:
            _names_from(value, inv, st)
    roots = _tar_inputs(inv.args, creating=bool(names & {"-c", "--create"}))
    if roots is not None:
        reads_whole_tree(roots, inv, st)
    if names & {"-x", "--extract", "--get"}:
        for folder in [v for n, v in options if n in ("-C", "--directory")] or ["."]:  # 'xfC a.tar DIR' too
            writes_whole_tree(folder, inv, st)
    if "--remove-files" in names and names & {"-c", "--create", "-r", "--append", "-u", "--update"}:
        judge_deletion(_tar_inputs(inv.args, creating=True) or ["."], True, inv, st)


_STDIN_NAMES = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def _names_from(source: str, inv: Invocation, st: State) -> None:
    """``tar -T FILE``: the files named in FILE are archived; on standard input, as ``cpio -o`` reads them."""
    if source in _STDIN_NAMES:
        names_on_input(inv, st)
        return
    text = script_text(source, st)
    if not text:
        st.add(CONFIRM, "archives the files named in a list, which this line does not show", inv.text)
        return
    listed = text.split()
    st.check_paths(listed, inv.text)
    reads_tree(listed, inv, st, hidden=True)


def _option_value(args: list[str], short: str, long: str) -> str | None:
    """The last value given as ``-C DIR``, ``-CDIR``, ``--directory DIR`` or ``--directory=DIR``."""
    found = None
    for i, arg in enumerate(args):
        if arg in (short, long) and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(long + "="):
            found = arg.split("=", 1)[1]
        elif arg.startswith(short) and len(arg) > len(short) and not arg.startswith("--"):
            found = arg[len(short) :]
    return found


def _unzip(inv: Invocation, st: State) -> None:
    writes_whole_tree(_option_value(inv.args, "-d", "--directory") or ".", inv, st)


def _tar_inputs(args: list[str], *, creating: bool) -> list[str] | None:
    """What ``tar`` archives when it creates one (None otherwise), each as seen from its ``-C`` folder."""
    if not args or not creating:
        return None
    words = list(args)
    folder = ""
    inputs: list[str] = []
    pending: list[str] = []  # letters of a bundle still waiting for their values
    first = words[0]
    if not first.startswith("-"):  # old style 'tar czf out.tgz -C ~ proj': the bundle's values follow in order
        pending = [c for c in first if c in _TAR_VALUED_LETTERS]
        words = words[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if pending:
            letter = pending.pop(0)
            if letter == "C":
                folder = word
            i += 1
            continue
        if word in ("-C", "--directory"):
            folder = words[i + 1] if i + 1 < len(words) else folder
            i += 2
            continue
        if word.startswith("--directory="):
            folder = word.split("=", 1)[1]
        elif word in _TAR_VALUED_LONG:
            i += 1
        elif word.startswith("-") and not word.startswith("--") and len(word) > 1:
            pending = [c for c in word[1:] if c in _TAR_VALUED_LETTERS]
            if pending and word[1:].index(pending[0]) < len(word) - 2:  # '-fout.tgz': the value is attached
                pending = []
        elif not word.startswith("-") and word != "-":
            inputs.append(word if not folder or word.startswith(("/", "~")) else f"{folder.rstrip('/')}/{word}")
        i += 1
    return inputs


_ZIP_VALUED = frozenset({"-b", "-n", "-t", "-tt", "-P", "-Z", "-O", "-s", "-ds", "-lf", "-TT", "--unzip-command",
                         "--temp-path", "--suffixes", "--password", "--compression-method", "--output-file",
                         "--split-size", "--logfile-path", "--after-date", "--before-date", "--dot-size"})  # fmt: skip


def _zip(inv: Invocation, st: State) -> None:
    """zip -TT runs the command it is given to test the archive; -m moves the files in, deleting them."""
    for command in option_values(inv.args, "-TT", "--unzip-command"):
        runs_given_command(command, "zip's", inv, st)
    if any(a == "--names-stdin" or re.fullmatch(r"-[a-zA-Z0-9]*@[a-zA-Z0-9]*", a) for a in inv.args):
        names_on_input(inv, st)  # 'find .. | zip -@ x.zip'
    moving = False
    operands: list[str] = []
    skip = listing = False
    for arg in inv.args:
        if skip:
            skip = False
        elif arg in _ZIP_VALUED or arg.split("=", 1)[0] in _ZIP_VALUED:
            skip = "=" not in arg
        elif arg in ("-x", "-i", "--exclude", "--include"):
            listing = True  # patterns follow up to the next option
        elif arg.startswith("-") and len(arg) > 1:
            listing = False
            moving = moving or arg == "--move" or (not arg.startswith("--") and "m" in arg[1:])
        elif not listing:
            operands.append(arg)
    if moving:
        judge_deletion(operands[1:] or ["."], any(re.fullmatch(r"-[a-zA-Z]*r[a-zA-Z]*", a) for a in inv.args), inv, st)


def without_exclusions(args: list[str], *, zip_style: bool = False) -> list[str]:
    """``args`` without what exclusion options name (``--exclude=.ssh``, ``-x '.ssh/*'`` for zip)."""
    out: list[str] = []
    skipping = False
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        if arg.startswith(("--exclude=", "--exclude-dir=", "--ignore=", "--ignore-dir=", "--exclude-from=")):
            continue
        if arg in ("--exclude", "--exclude-dir", "--ignore", "--ignore-dir", "--exclude-from"):
            skip_next = True
            continue
        if zip_style and arg in ("-x", "--exclude", "-x@"):
            skipping = True
            continue
        if skipping and arg.startswith("-"):
            skipping = False
        if not skipping:
            out.append(arg)
    return out


# Vim's Ex commands by full name and shortest abbreviation (``:help :w``: ``w[rite]``).
_VIM_READS = (("read", "r"), ("edit", "e"), ("split", "sp"), ("vsplit", "vs"), ("new", "new"), ("vnew", "vne"),
              ("tabedit", "tabe"), ("tabnew", "tabnew"), ("view", "vie"), ("sview", "sv"), ("badd", "bad"),
              ("args", "ar"), ("visual", "vi"), ("diffsplit", "diffs"), ("find", "fin"), ("sfind", "sf"))  # fmt: skip
_VIM_WRITES = (("write", "w"), ("wq", "wq"), ("xit", "x"), ("exit", "exi"), ("update", "up"), ("saveas", "sav"),
               ("wnext", "wn"), ("wprevious", "wp"), ("redir", "redi"), ("mksession", "mks"), ("mkexrc", "mk"),
               ("mkvimrc", "mkv"), ("mkview", "mkvie"), ("wviminfo", "wv"), ("wshada", "wsh"), ("wundo", "wu"),
               ("wall", "wa"), ("wqall", "wqa"), ("xall", "xa"))  # fmt: skip
_VIM_CODE = (("python", "py"), ("py3", "py3"), ("python3", "python3"), ("pyx", "pyx"), ("pythonx", "pythonx"),
             ("pyfile", "pyf"), ("py3file", "py3f"), ("pyxfile", "pyxf"), ("pydo", "pyd"), ("py3do", "py3d"),
             ("pyxdo", "pyxd"), ("lua", "lua"), ("luafile", "luaf"), ("luado", "luad"), ("perl", "pe"),
             ("perldo", "perld"), ("ruby", "rub"), ("rubyfile", "rubyf"), ("rubydo", "rubyd"), ("tcl", "tc"),
             ("tclfile", "tclf"), ("tcldo", "tcld"), ("mzscheme", "mz"), ("mzfile", "mzf"), ("call", "cal"),
             ("execute", "exe"), ("terminal", "ter"), ("shell", "sh"), ("make", "mak"), ("lmake", "lmak"),
             ("grep", "gr"), ("lgrep", "lgr"), ("grepadd", "grepa"), ("lgrepadd", "lgrepa"),
             ("diffpatch", "diffp"), ("cscope", "cs"), ("lcscope", "lcs"), ("source", "so"), ("runtime", "ru"),
             ("autocmd", "au"), ("function", "fu"), ("def", "def"), ("vim9cmd", "vim9"), ("command", "com"),
             ("doautocmd", "do"))  # fmt: skip
# Commands whose argument is an expression (code when it calls a function), a substitution (code after \\=) or
# options (code in the ones that name a program or an expression: makeprg, foldexpr, shell…).
_VIM_CALLS = (("let", "let"), ("eval", "ev"), ("echo", "ec"), ("echon", "echon"), ("echomsg", "echom"),
              ("echoerr", "echoe"), ("const", "cons"), ("if", "if"), ("while", "wh"), ("for", "for"),
              ("return", "retu"))  # fmt: skip
_VIM_SUBSTITUTE = (("substitute", "s"), ("&", "&"), ("~", "~"), ("smagic", "sm"), ("snomagic", "sno"))
_VIM_SET = (("set", "se"), ("setlocal", "setl"), ("setglobal", "setg"))
# Commands that run the rest of the line (modifiers), or another command on matching lines or in every window.
_VIM_MODIFIERS = (("silent", "sil"), ("unsilent", "uns"), ("noautocmd", "noa"), ("keepjumps", "keepj"),
                  ("keepmarks", "kee"), ("keepalt", "keepa"), ("keeppatterns", "keepp"), ("lockmarks", "loc"),
                  ("verbose", "verb"), ("vertical", "vert"), ("topleft", "to"), ("botright", "bo"),
                  ("aboveleft", "abo"), ("belowright", "bel"), ("leftabove", "lefta"), ("rightbelow", "rightb"),
                  ("tab", "tab"), ("sandbox", "san"), ("confirm", "conf"), ("browse", "bro"), ("legacy", "leg"),
                  ("hide", "hid"), ("horizontal", "hor"), ("windo", "windo"), ("bufdo", "bufdo"),
                  ("argdo", "argdo"), ("tabdo", "tabdo"), ("cdo", "cdo"), ("ldo", "ldo"), ("cfdo", "cfdo"),
                  ("lfdo", "lfdo"))  # fmt: skip
_VIM_GLOBAL = (("global", "g"), ("vglobal", "v"))
_VIM_RANGE = re.compile(r"(?:[%.$,;\s]|\d+|'[a-zA-Z<>\[\]]|/(?:\\.|[^/])*/?|\?(?:\\.|[^?])*\??|[+-]\d*)*")
_VIM_NAME = re.compile(r"([A-Za-z]+[0-9]?[A-Za-z]*|[!&~])(!?)\s*")
_VIM_CALL = re.compile(r"\w\s*\(")
_VIM_CODE_OPTION = re.compile(r"(prg|expr|func|shell\w*|cmd)\s*[+^-]?=", re.IGNORECASE)
_VIM_CODE_REASON = "runs code from the editor"
_VIM_BUNDLE = re.compile(r"-[a-zA-Z]+[cSuUsiwWTtq]")


def _vim_is(name: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for full, least in table:
        if len(name) >= len(least) and full.startswith(name):
            return full
    return None


def _vim(inv: Invocation, st: State) -> None:
    """Vim's startup commands (``-c``, ``+``, ``--cmd``) that read or write files or run code, and the options
    that run a script (-S, -u, -s) or write a file (-i, -w, -W)."""
    ex_mode = inv.name == "ex" or any(re.fullmatch(r"-[a-zA-Z]*[eE][a-zA-Z]*", a) for a in inv.args)
    lines: list[str] = []
    files: list[str] = []
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        if _VIM_BUNDLE.fullmatch(arg):
            arg = "-" + arg[-1]  # '-sc CMD', '-Nu FILE': flags run together, the last one taking the next word
        following = args[i + 1] if i + 1 < len(args) else None
        if arg in ("-c", "--cmd") and following is not None:
            lines.append(following)
            i += 1
        elif arg.startswith("+") and len(arg) > 1 and not arg[1:].isdigit() and arg[1] not in "/?":
            lines.append(arg[1:])
        elif arg.startswith(("--remote-send", "--remote-expr")):
            st.add(CONFIRM, _VIM_CODE_REASON, inv.text)  # keys or an expression for another running Vim
        elif arg in ("-S", "-u", "-U", "-s", "-i", "-w", "-W", "-T", "-t", "-q") and following is not None:
            if arg == "-S" or (arg in ("-u", "-U") and following not in ("NONE", "NORC", "DEFAULTS")):
                st.add(CONFIRM, _VIM_CODE_REASON, inv.text)  # a script of editor commands, which can run anything
            elif arg == "-s" and not ex_mode:
                st.add(CONFIRM, _VIM_CODE_REASON, inv.text)  # keys typed from a file
            elif arg in ("-i", "-W") and following != "NONE":
                writes_file(following, False, inv, st)
            elif arg == "-w" and not following.isdigit():
                writes_file(following, True, inv, st)
            if arg != "-s" or not ex_mode:
                i += 1
        elif not arg.startswith(("-", "+")):
            files.append(arg)
        i += 1
    for line in lines:
        _vim_line(line, files, inv, st, 0)


def _vim_line(line: str, files: list[str], inv: Invocation, st: State, depth: int) -> None:
    """One Ex command line: commands separated by ``|``, each after its range (``1,$``, ``'<,'>``, ``/re/``)."""
    rest = line
    while rest and depth < 8:
        rest = rest.lstrip(" \t:")
        ranged = _VIM_RANGE.match(rest)
        rest = rest[ranged.end() :].lstrip(" \t:") if ranged is not None else rest
        match = _VIM_NAME.match(rest)
        if match is None:
            return
        name, bang = match.group(1), match.group(2)
        whole = rest[match.end() :]
        if name == "!":
            st.add(CONFIRM, "runs a shell command from the editor", inv.text)
            nested(bang + whole, st)
            return
        if _vim_is(name, _VIM_MODIFIERS) is not None:
            rest = whole
            continue
        if _vim_is(name, _VIM_GLOBAL) is not None and whole[:1] and not whole[0].isalnum() and whole[0] not in '"|':
            end = sed_delimited(whole, 1, whole[0], brackets=False)
            rest = whole[end:] if end > 0 else ""
            depth += 1
            continue
        argument, _, rest = whole.partition("|") if _vim_is(name, _VIM_CODE) is None else (whole, "", "")
        _vim_command(name, bang, argument.strip(), files, inv, st)


def _vim_command(name: str, bang: str, argument: str, files: list[str], inv: Invocation, st: State) -> None:
    if _vim_is(name, _VIM_CODE) is not None:
        st.add(CONFIRM, _VIM_CODE_REASON, inv.text)
        return
    if (
        (_vim_is(name, _VIM_CALLS) is not None and _VIM_CALL.search(argument))
        or (_vim_is(name, _VIM_SUBSTITUTE) is not None and "\\=" in argument)
        or (_vim_is(name, _VIM_SET) is not None and _VIM_CODE_OPTION.search(argument))
    ):
        st.add(CONFIRM, _VIM_CODE_REASON, inv.text)
        return
    words = [w for w in argument.split() if not w.startswith("++")]  # '++enc=utf8' and the like
    target = " ".join(words)
    if _vim_is(name, _VIM_READS) is not None:
        if target.startswith("!"):  # ':r !cmd' reads what a command prints
            st.add(CONFIRM, "runs a shell command from the editor", inv.text)
            nested(target[1:], st)
        elif words:
            st.check_paths(words, inv.text)
        return
    full = _vim_is(name, _VIM_WRITES)
    if full is None:
        return
    if full == "redir":
        if target.startswith(">") and not target.startswith("=>"):
            append = target.startswith(">>")
            writes_file(target.lstrip(">").strip(), append, inv, st)
        return
    if target.startswith("!"):  # ':w !cmd' feeds the text to a command
        st.add(CONFIRM, "runs a shell command from the editor", inv.text)
        nested(target[1:], st)
    elif target.startswith(">>"):
        writes_file(target[2:].strip(), True, inv, st)
    elif target and not target.isdigit():
        writes_file(target, False, inv, st)
    elif full in ("write", "wq", "xit", "exit", "update", "wnext", "wprevious", "wall", "wqall", "xall"):
        for f in files:  # the files being edited are written back
            edits_in_place(f, inv, st)


def _trap(inv: Invocation, st: State) -> None:
    """``trap 'CMD' EXIT``: CMD runs when the shell gets the signal (at its end, for EXIT), judged as eval is."""
    args = inv.args
    while args and args[0].startswith("-") and args[0] != "-":
        if args[0] == "--":
            args = args[1:]
            break
        if args[0] in ("-l", "-p", "-P"):
            return
        args = args[1:]
    if len(args) >= 2 and args[0] != "-":
        nested(args[0], st)


_GDB_VALUED = frozenset({"ex", "iex", "x", "ix", "p", "c", "s", "e", "se", "d", "cd", "b", "l", "D", "tty", "i",
                         "interpreter", "pid", "core", "exec", "symbols", "command", "directory", "init-command",
                         "eval-command", "init-eval-command", "data-directory"})  # fmt: skip
_LLDB_VALUED = frozenset({"p", "attach-pid", "n", "attach-name", "o", "one-line", "O", "one-line-before-file", "s",
                          "source", "S", "source-before-file", "k", "one-line-on-crash", "K", "source-on-crash", "c",
                          "core", "a", "arch", "f", "file", "l", "script-language"})  # fmt: skip
_DEBUGGER_SHELL = frozenset({"shell", "pipe", "python", "py", "pi", "python-interactive", "source", "script",
                             "platform", "command", "guile", "gu", "gr"})  # fmt: skip


def _debugger(inv: Invocation, st: State) -> None:
    """gdb -p, strace -p, gcore: another running program's memory, where the server keeps its API keys; and the
    commands given to gdb or lldb that run a shell command or a script."""
    args = inv.args
    attach = False
    if inv.name in ("strace", "ltrace"):
        attach = any(re.fullmatch(r"-[cCdDfFhiknqrtTvVwxyzZ]*p.*|--attach(=.*)?|--pid(=.*)?", a) for a in args)
    elif inv.name == "gdbserver":
        attach = "--attach" in args
    else:
        valued = _LLDB_VALUED if inv.name == "lldb" else _GDB_VALUED
        options: list[tuple[str, str]] = []
        operands: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--args":
                operands += args[i + 1 : i + 2]  # the program; the rest are its arguments
                break
            if arg.startswith("-") and len(arg) > 1:
                name, eq, value = arg.lstrip("-").partition("=")
                if not eq and name in valued:
                    value, i = (args[i + 1] if i + 1 < len(args) else ""), i + 1
                options.append((name, value))
            else:
                operands.append(arg)
            i += 1
        if inv.name == "gcore":
            attach = bool(operands)
        elif inv.name == "lldb":
            attach = any(n in ("p", "attach-pid", "n", "attach-name", "w", "wait-for") for n, _ in options)
        else:  # 'gdb -p 1234', 'gdb prog 1234', 'gdb -c 1234'
            attach = any(n in ("p", "pid") or (n in ("c", "core") and v.isdigit()) for n, v in options)
            attach = attach or (len(operands) >= 2 and operands[1].isdigit())
        for name, value in options:
            line = value.strip()
            word = line.split(" ", 1)[0].lower()
            if name in ("x", "ix", "command", "init-command", "s", "source", "S", "source-before-file") and (
                inv.name == "lldb" or name not in ("s", "S")
            ):
                st.add(CONFIRM, "runs a script of debugger commands", inv.text)
                continue
            if name not in ("ex", "iex", "eval-command", "init-eval-command", "o", "one-line", "O", "k", "K"):
                continue
            if word in ("attach", "at") or line.startswith("process attach"):
                attach = True
            elif line.startswith(("!", "|")) or word in _DEBUGGER_SHELL:
                st.add(CONFIRM, "runs a shell command from the debugger", inv.text)
                if line.startswith("!") or word == "shell":
                    nested(line[1:] if line.startswith("!") else line[len(word) :], st)
    if attach:
        st.add(CONFIRM, "reads another running program's memory", inv.text)


def _mshta_like(inv: Invocation, st: State) -> None:
    st.add(BLOCK, f"runs a script through {inv.name}, a common way to run downloaded code", inv.text)


def _secrets(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if inv.name == "gpg" and any(a.startswith(("--export-secret", "--export-ownertrust")) for a in lowered):
        st.add(BLOCK, "exports your private keys", inv.text)
    elif inv.name == "security" and any(a in ("dump-keychain", "-w", "find-internet-password") for a in lowered):
        st.add(BLOCK, "reads passwords from the keychain", inv.text)
    elif inv.name in ("secret-tool", "pass") and lowered[:1] in (["lookup"], ["show"], ["search"]):
        st.add(BLOCK, "reads stored passwords", inv.text)


def _settings(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if (inv.name == "defaults" and lowered[:1] == ["delete"]) or (
        inv.name in ("gsettings", "dconf") and lowered[:1] and lowered[0] in ("reset", "reset-recursively")
    ):
        st.add(CONFIRM, "resets settings to their defaults", inv.text)
    elif inv.name == "tccutil" and lowered[:1] == ["reset"]:
        st.add(CONFIRM, "resets privacy permissions", inv.text)


RULES: dict[str, Rule] = {
    "nc": _netcat, "ncat": _netcat, "netcat": _netcat, "socat": _netcat,
    "scp": _copy_out, "rsync": _copy_out, "sftp": _transfer_client,
    "ftp": _transfer_client, "lftp": _transfer_client, "smbclient": _transfer_client, "tftp": _transfer_client,
    "croc": _croc, "wormhole": _croc,
    "mail": _mail, "mailx": _mail, "s-nail": _mail, "mutt": _mail, "neomutt": _mail,
    "http": _httpie, "https": _httpie, "xh": _httpie, "xhs": _httpie,
    "gh": _gh,
    "darkhttpd": _file_server, "caddy": _file_server, "twistd": _file_server, "webfsd": _file_server,
    "grep": _grep, "egrep": _grep, "fgrep": _grep, "ack": _grep,
    "rg": _searcher, "ag": _searcher,
    "tar": _archive, "bsdtar": _archive, "zip": _archive, "7z": _archive, "7za": _archive,
    "unzip": _unzip,
    "diff": _diff, "colordiff": _diff,
    "cpio": _name_archiver, "bsdcpio": _name_archiver, "afio": _name_archiver, "pax": _name_archiver,
    "mshta": _mshta_like, "bitsadmin": _mshta_like,
    "ssh": _ssh,
    "trap": _trap,
    "gdb": _debugger, "gdb-multiarch": _debugger, "gdbserver": _debugger, "lldb": _debugger, "gcore": _debugger,
    "strace": _debugger, "ltrace": _debugger,
    "vi": _vim, "vim": _vim, "nvim": _vim, "ex": _vim, "view": _vim, "gvim": _vim, "rvim": _vim, "vimdiff": _vim,
    "gview": _vim, "evim": _vim,
    "curl": _fetch, "wget": _fetch,
    "awk": _awk, "gawk": _awk, "mawk": _awk, "nawk": _awk,
    "openssl": _openssl,
    "useradd": _accounts, "userdel": _accounts, "usermod": _accounts, "adduser": _accounts, "deluser": _accounts,
    "addgroup": _accounts, "delgroup": _accounts, "groupadd": _accounts, "groupdel": _accounts, "groupmod": _accounts,
    "gpasswd": _accounts, "chpasswd": _accounts, "newusers": _accounts, "passwd": _accounts, "chsh": _accounts,
    "chfn": _accounts, "chage": _accounts, "visudo": _accounts, "vipw": _accounts,
    "sudo": _root_shell, "doas": _root_shell, "su": _root_shell, "pkexec": _root_shell,
    "defaults": _settings, "gsettings": _settings, "dconf": _settings, "tccutil": _settings,
    "gpg": _secrets, "gpg2": _secrets, "security": _secrets, "secret-tool": _secrets, "pass": _secrets,
}  # fmt: skip
