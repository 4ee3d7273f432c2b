"""What the command rules share: an ``Invocation`` and option parsing; the judgements every rule makes
(deleting, writing a file, reading a whole tree, running a command given in an option or a script); and the
rules for the programs that manage files (rm, find, mv, cp, ln, sort, chmod, dd, disk tools, truncate, sed, tee).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from contop.security.findings import BLOCK, CONFIRM
from contop.security.keywords import Keywords
from contop.security.paths import Place, component_matches, other_state_dir
from contop.security.shellparse import Cmd, matching_end, parse
from contop.security.state import LINK_SOMEWHERE, State


@dataclass(slots=True)
class Invocation:
    name: str  # normalised: basename, lower case, no .exe, no version suffix
    args: list[str]
    text: str
    via_xargs: bool = False


Rule = Callable[[Invocation, State], None]

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "ash", "mksh", "csh", "tcsh", "busybox-sh"})
INTERPRETERS = frozenset({"python", "perl", "ruby", "node", "nodejs", "php", "deno", "bun", "lua", "osascript",
                          "rscript", "r", "julia", "tclsh", "wish", "expect", "jimsh"})  # fmt: skip
FETCHERS = frozenset({"curl", "wget", "fetch", "lwp-request", "http", "https", "aria2c", "xh", "curlie"})
NET_SENDERS = frozenset(
    {"nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "ftp", "tftp", "curl", "wget", "openssl",
     "rsync", "rclone", "aws", "gsutil", "az", "smbclient", "mail", "sendmail", "mutt", "xh", "http", "https",
     "gcloud", "s3cmd", "azcopy"}
)  # fmt: skip
ENV_SOURCES = frozenset({"env", "printenv", "set", "export", "declare", "compgen"})
ARCHIVERS = frozenset({"tar", "zip", "7z", "7za", "cpio", "rar", "gzip", "bzip2", "xz", "cat", "base64", "dd"})
DRY_RUN = frozenset({"--dry-run", "--dryrun", "--simulate", "-whatif", "--what-if", "--dry-run=client",
                     "--dry-run=server", "--no-act", "--just-print", "--check"})  # fmt: skip
SECURITY_SERVICES = re.compile(
    r"^(firewalld|ufw|iptables|ip6tables|nftables|auditd|apparmor|selinux|fail2ban|clamav\S*|crowdstrike\S*|"
    r"falcon-sensor|osqueryd|wazuh\S*|ossec\S*|sysmon\S*|windefend|mpssvc|sense|wdnissvc|eventlog|"
    r"rsyslog|syslog|systemd-journald|journald|sshguard)(\.service)?$",
    re.IGNORECASE,
)
HISTORY_FILE = re.compile(
    r"(^|[/\\])\.(bash_|zsh_|sh_|python_|node_|mysql_|psql_|)history$|consolehost_history\.txt$", re.IGNORECASE
)
PERSISTENCE_PATH = Keywords(
    r"(^|/)\.(bashrc|bash_profile|bash_login|profile|zshrc|zprofile|zshenv|zlogin|kshrc|cshrc|tcshrc)$|"
    r"/\.config/fish/config\.fish$|^/etc/(profile|bash\.bashrc|rc\.local|environment|ld\.so\.preload)$|"
    r"^/etc/(profile\.d|cron\.[a-z]+|crontab|init\.d|systemd|xdg/autostart|update-motd\.d)(/|$)|"
    r"^/var/spool/cron|/\.config/(autostart|systemd/user)(/|$)|^/(usr/)?lib/systemd/|"
    r"/Library/(LaunchAgents|LaunchDaemons)(/|$)|/\.ssh/(authorized_keys2?|rc)$|"
    r"\\start menu\\programs\\startup(\\|$)|\\startup\\|"
    r"(^|/)\.(xprofile|xsession|xsessionrc|xinitrc|bash_aliases|bash_logout|zlogout|pam_environment)$|"
    r"/\.config/(environment\.d|plasma-workspace/env|autostart-scripts)(/|$)|/\.config/openbox/autostart(\.sh)?$|"
    r"/\.local/share/applications/[^/]+\.desktop$|/site-packages/[^/]+\.pth$|(^|/)\.git/hooks/",
    re.IGNORECASE,
)
SUSPICIOUS_PAYLOAD = Keywords(
    r"\b(curl|wget|nc|ncat|netcat|socat|base64|certutil|bitsadmin|mshta|iwr|irm|iex|"
    r"invoke-webrequest|invoke-restmethod|invoke-expression|downloadstring|downloadfile|frombase64string|"
    r"encodedcommand|enc|hidden)\b|/dev/tcp/|bash\s+-i|python[0-9.]*\s+-c|perl\s+-e|/(tmp|dev/shm|var/tmp)/\.",
    re.IGNORECASE,
)
DEFENDER_OFF = Keywords(
    r"disableantispyware|disablerealtimemonitoring|disablebehaviormonitoring|disableioavprotection|"
    r"disableantivirus|tamperprotection|disablescriptscanning|enablelua",
    re.IGNORECASE,
)
CRITICAL_FILES = re.compile(
    r"^/etc/(passwd|shadow|group|gshadow|sudoers|fstab|hosts|resolv\.conf|ld\.so\.preload|pam\.d/.*|"
    r"sudoers\.d/.*|ssh/sshd_config|crypttab|default/grub)$|^/proc/(sysrq-trigger|sys/)|^/boot/|^/(usr/)?s?bin/|^/(usr/)?lib(32|64)?/|"
    r"^/var/log/|^/System/|^c:\\windows\\",
    re.IGNORECASE,
)
_HARMLESS_DEVICES = re.compile(r"^/dev/(null|zero|stdout|stderr|stdin|tty|fd/\d+|full|random|urandom)$")
_NEW_LOOKING = re.compile(
    r"(^|[/\\])[^/\\.]*$|\.(txt|log|out|tmp|csv|tsv|json|html|xml|png|jpg|gz|zip|tar|md|bak|diff|patch|dump)$|"
    r"^/tmp/|^(out|output|result|results|report|build|dist)[^/\\]*$",
    re.IGNORECASE,
)
_EXISTING_LOOKING = re.compile(
    r"(^|[/\\])\.[^/\\]+$|\.(py|js|ts|tsx|jsx|go|rs|c|h|cpp|hpp|java|kt|rb|php|sh|ps1|bat|cmd|toml|ya?ml|ini|cfg|json|"
    r"conf|lock|env|sql|db|sqlite|gradle|xml|csproj|sln|pem|key)$|(^|[/\\])(Makefile|Dockerfile|README[^/\\]*|"
    r"LICENSE|requirements\.txt|package\.json|pyproject\.toml|Cargo\.toml|go\.mod|\.gitignore)$",
    re.IGNORECASE,
)


_VERSIONED = re.compile(r"^(python|pip|perl|ruby|php|node|pydoc)[0-9.]*(w)?$")  # python3.11w -> python


@lru_cache(maxsize=8192)
def normalise(word: str) -> str:
    """``/usr/bin/Python3.11`` → ``python``; ``C:\\Windows\\rm.EXE`` → ``rm``; ``\\rm`` → ``rm``."""
    name = word.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in (".exe", ".com", ".bat", ".cmd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    name = _VERSIONED.sub(r"\1", name)
    if name == "py":  # the Python launcher of Windows
        name = "python"
    if name.startswith(("mkfs.", "mkfs_", "fsck.")):
        name = name.split(".", 1)[0].split("_", 1)[0]
    return name


def split_opts(args: list[str]) -> tuple[list[str], list[str]]:
    opts: list[str] = []
    operands: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            operands.extend(args[i + 1 :])
            break
        (opts if arg.startswith("-") and arg != "-" else operands).append(arg)
    return opts, operands


def has_flag(opts: list[str], short: str, *long: str) -> bool:
    """A short flag alone or combined (``-rf``), or any of the long spellings."""
    for opt in opts:
        if opt in long or opt.split("=", 1)[0] in long:
            return True
        if short and len(opt) > 1 and opt[0] == "-" and opt[1] != "-" and any(c in opt[1:] for c in short):
            return True
    return False


def is_dry_run(args: list[str]) -> bool:
    return any(a.lower() in DRY_RUN for a in args)


_PLACE_WORDS = {
    Place.DEVICE: "destroys a disk or device",
    Place.SYSTEM_TREE: "destroys a system folder or a whole drive",
    Place.HOME: "destroys your home directory",
    Place.SYSTEM_FILE: "deletes operating system files",
}


def worst_place(targets: list[str], st: State, *, entry: bool = False) -> int:
    """The worst place among ``targets`` (``entry``: as ``State.place`` takes it)."""
    return max((st.place(t, entry=entry) for t in targets), default=Place.ORDINARY)


_DRIVE_ROOT = re.compile(r"[A-Za-z]:[\\/]?\*?")
_SYSTEM_LOG = re.compile(r"(^|[/\\])var[/\\]log|\.evtx$", re.IGNORECASE)
NET_DEVICE = re.compile(r"/dev/(tcp|udp)/")  # bash's network redirections


def judge_deletion(
    targets: list[str], recursive: bool, inv: Invocation, st: State, verb: str = "deletes", *, entry: bool = True
) -> None:
    """The common core of rm, del, rd, Remove-Item: catastrophic places block, anything else asks. ``entry``: a
    link named is removed itself, not what it leads to (shred overwrites that instead)."""
    worst = worst_place(targets, st, entry=entry)
    if any(t.rstrip("/\\") in ("", "/") or _DRIVE_ROOT.fullmatch(t) for t in targets if t):
        st.add(BLOCK, "destroys the whole file system or drive", inv.text)
    if worst > Place.ORDINARY:
        st.add(BLOCK, _PLACE_WORDS[worst], inv.text)
    if any(HISTORY_FILE.search(t) for t in targets):
        st.add(BLOCK, "erases shell history", inv.text)
    if any(_SYSTEM_LOG.search(t) for t in targets):
        st.add(BLOCK, "erases system logs", inv.text)
    what = f"{verb} files recursively" if recursive else f"{verb} files"
    st.add(CONFIRM, what, inv.text)


# ------------------------------------------------------------------------------------------- file system


def _rm(inv: Invocation, st: State) -> None:
    opts, targets = split_opts(inv.args)
    if "--no-preserve-root" in opts:
        st.add(BLOCK, "destroys the whole file system", inv.text)
    if inv.name == "unlink" or inv.name == "rmdir":
        judge_deletion(targets, False, inv, st)
        return
    judge_deletion(targets, has_flag(opts, "rR", "--recursive"), inv, st)


def _shred(inv: Invocation, st: State) -> None:
    _, targets = split_opts(inv.args)
    judge_deletion(targets, False, inv, st, verb="irrecoverably overwrites", entry=False)


def _find(inv: Invocation, st: State) -> None:
    args = inv.args
    roots = []
    for arg in args:
        if arg.startswith(("-", "(", "!")):
            break
        roots.append(arg)
    lowered = [a.lower() for a in args]
    for i, arg in enumerate(lowered):
        if arg in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+", "\\;")), len(args))
            inner = [a for a in args[i + 1 : end] if a != "{}"] + roots
            if inner:
                from contop.security.posix import judge_words

                name = judge_words(inner, st, inv.text)
                if name not in METADATA_READERS:  # 'find ~ -size +1G -exec ls -lh {} +' reads no file's content
                    reads_whole_tree(roots or ["."], inv, st)
    if "-delete" in lowered:
        if any(a in _FIND_NARROWING for a in lowered):
            # only what matches: '~/… -name "*.tmp" -delete' is not the home folder's destruction
            targets = roots or ["."]
            if any(t.rstrip("/\\") in ("", "/") for t in targets):
                st.add(BLOCK, "destroys the whole file system or drive", inv.text)
            st.add(CONFIRM, f"deletes the files it finds under {' '.join(targets)}", inv.text)
        else:
            judge_deletion(roots or ["."], True, inv, st)
    for i, arg in enumerate(args[:-1]):
        if arg in _FIND_WRITES:  # '-fprintf FILE FORMAT' and the like write FILE, as '>' would
            writes_file(args[i + 1], False, inv, st)


# find's actions that write what they print into the file named next.
_FIND_WRITES = frozenset({"-fprint", "-fprint0", "-fprintf", "-fls"})
# What only reads names, sizes and dates; find's tests that pick some files rather than all of them.
METADATA_READERS = frozenset({"ls", "du", "stat", "echo", "printf", "basename", "dirname", "realpath", "readlink",
                              "test", "[", "true", "printenv"})  # fmt: skip
_FIND_NARROWING = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-regex", "-iregex", "-empty",
                             "-size", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-newer", "-user",
                             "-group", "-perm", "-links", "-inum", "-samefile"})  # fmt: skip


def _mv(inv: Invocation, st: State) -> None:
    line = copy_line(inv)
    worst = worst_place(line.operands + ([line.folder] if line.folder else []), st, entry=True)
    if worst >= Place.SYSTEM_FILE:
        st.add(BLOCK, "moves system files or your home directory away", inv.text)
    if line.dest is not None and re.match(r"^/dev/null$", line.dest):
        st.add(BLOCK if worst else CONFIRM, "moves files into /dev/null", inv.text)
    for target in landing_files(line, st):
        judge_write_target(target, False, inv, st, guess_existing=False, follows=False)
    _carry_links(line, st)
    st.add(CONFIRM, "moves or renames files", inv.text)


# A perl rename expression simple enough to apply here: 's/FROM/TO/' with literal text and no flag but 'g'.
_PERL_SUBST = re.compile(r"^s(?P<d>[/|#,:])(?P<a>[^\\.^$*+?()\[\]{}|]+)(?P=d)(?P<b>[^\\$@]*)(?P=d)(?P<g>g?)$")


def _rename(inv: Invocation, st: State) -> None:
    """``rename h g /tmp/h`` (util-linux), ``rename 's/h/g/' /tmp/h`` (perl), ``mmv /tmp/h /tmp/g``: a link the
    line made leads from its new name as it did (``_carry_links``); where that name cannot be worked out here,
    it may be anywhere, and every path after it asks."""
    if st.windows or not st.links:
        return
    _opts, operands = split_opts(inv.args)
    if inv.name == "mmv":
        if len(operands) == 2 and not re.search(r"[*?\[#;]", "".join(operands)):
            _carry_links(CopyLine([], operands, operands[:1], operands[1]), st)
        elif operands:
            st.links[LINK_SOMEWHERE] = None
        return
    if len(operands) < 2:
        return
    perl = _PERL_SUBST.match(operands[0])
    if perl is not None:
        replace: tuple[str, str, int] | None = (perl["a"], perl["b"], 0 if perl["g"] else 1)
        files = operands[1:]
    elif re.match(r"^(?:s|y|tr)\W", operands[0]) or len(operands) < 3:
        replace, files = None, operands[1:]  # a perl expression not worked out here
    else:
        replace, files = (operands[0], operands[1], 1), operands[2:]
    for file in files:
        for name, below, held in _links_named(file, st):
            if replace is None:
                st.links[LINK_SOMEWHERE] = None
                continue
            old, new, count = replace
            text = st.with_tmpdir(file)
            folder, sep, last = text.rpartition("/")
            # the name as util-linux (its last part) and as perl and older versions (the whole path) change it
            names = {folder + sep + last.replace(old, new, count or -1), text.replace(old, new, count or -1)}
            for renamed in names:
                if renamed != text and name:
                    _store_link(renamed.rstrip("/") + "/" + below if below else renamed, held, st)


def _cp(inv: Invocation, st: State) -> None:
    line = copy_line(inv)
    if inv.name == "install" and has_flag(line.opts, "d", "--directory"):
        for folder in line.operands:  # 'install -d DIR…' makes each operand a folder
            judge_write_target(folder, False, inv, st, guess_existing=False)
        return
    dest = st.policy.expand(line.dest, st.cwd) if line.dest is not None else None
    earlier = dest is not None and dest in st.written and dest not in st.links  # a link there leads elsewhere
    symbolic = inv.name == "cp" and _given(line.opts, "s", ("--symbolic-link", "--sy"))
    linking = symbolic or (inv.name == "cp" and _given(line.opts, "l", ("--link", "--l")))
    forced = has_flag(line.opts, "f" if inv.name == "cp" else "", "--force", "--remove-destination")
    forced = forced and _may_exist(landing_files(line, st), st, follows=inv.name == "cp" and not linking)
    for target in landing_files(line, st):  # install removes the file first, and 'cp -s' makes a link there
        judge_write_target(target, False, inv, st, guess_existing=False, follows=inv.name == "cp" and not linking)
    if forced:
        st.add(CONFIRM, "copies over existing files", inv.text)
    if line.dest is None:
        return
    recursive = inv.name == "cp" and _given(line.opts, "rRa", ("--recursive", "--rec"), ("--archive", "--ar"))
    if linking and not st.windows:  # 'cp -s /etc/hosts /tmp/h': a link, not a copy
        _remember_links(line, st, symbolic=symbolic, relative=False)
    elif (
        inv.name == "cp"
        and (recursive or _given(line.opts, "Pd", ("--no-dereference", "--no-d")))
        and not _given(line.opts, "L", ("--dereference", "--der"))
    ):
        _carry_links(line, st)  # links are copied as links
    if recursive:
        reads_whole_tree(line.sources, inv, st)
        writes_whole_tree(line.dest, inv, st)
    elif not line.into_folder(st) and not linking:  # 'cp /dev/null a.py', 'install x config.json': one file
        _copies_over(line.dest, inv, st, earlier=earlier)  # replaces another


def _given(opts: list[str], short: str, *longs: tuple[str, str]) -> bool:
    """Whether one of the ``short`` letters, or a long option (its full name and shortest spelling GNU getopt
    takes), is among ``opts`` as ``copy_line`` gives them."""
    for opt in opts:
        if len(opt) == 2 and opt[0] == "-" and opt[1] in short:
            return True
        name = opt.split("=", 1)[0]
        if any(len(name) >= len(shortest) and full.startswith(name) for full, shortest in longs):
            return True
    return False


@dataclass(slots=True)
class CopyLine:
    """What cp, mv, ln or install was given: its options, the files it copies, and where they go (``-t DIR`` or
    the last operand). ``folder`` is set when ``-t`` names the destination folder; ``file`` when ``-T`` says the
    destination is the file itself."""

    opts: list[str]
    operands: list[str]
    sources: list[str]
    dest: str | None
    folder: str | None = None
    file: bool = False

    def into_folder(self, st: State) -> bool:
        """Whether the copies land inside ``dest`` (named after their sources) rather than at ``dest`` itself."""
        dest = self.dest
        if self.folder is not None or dest is None:
            return dest is not None
        if self.file:
            return False
        return len(self.sources) > 1 or names_folder(dest, st)


# Short options of cp, mv, ln and install that take a value, and their long options (with the shortest spelling
# GNU getopt takes) whose value may be the next word.
_COPY_VALUED = {"install": "gmoSt"}
_COPY_LONG = (("--target-directory", "--t"), ("--no-target-directory", "--no-t"), ("--suffix", "--su"))
_INSTALL_LONG = (*_COPY_LONG, ("--group", "--g"), ("--mode", "--m"), ("--owner", "--o"),
                 ("--strip-program", "--strip-"))  # fmt: skip
_COPY_LONG_VALUED = frozenset({"--target-directory", "--suffix", "--group", "--mode", "--owner", "--strip-program"})


def copy_line(inv: Invocation) -> CopyLine:
    """``cp -t /etc/systemd/system x.service``, ``install -m 755 tool /usr/bin/``, ``ln -sft DIR a b``: the
    options read as GNU coreutils reads them, so an option's value is never taken for a file."""
    longs = _INSTALL_LONG if inv.name == "install" else _COPY_LONG
    options, operands = getopt(inv.args, _COPY_VALUED.get(inv.name, "St"), longs, _COPY_LONG_VALUED)
    opts = [name for name, _ in options]
    folder = next((value for name, value in reversed(options) if name in ("-t", "--target-directory")), None)
    file = "-T" in opts or "--no-target-directory" in opts
    if folder is not None:
        return CopyLine(opts, operands, operands, folder, folder, file)
    if inv.name == "ln" and len(operands) == 1:  # 'ln -s /opt/tool/bin/tool': the link is made here
        return CopyLine(opts, operands, operands, ".", None, file)
    if len(operands) < 2:
        return CopyLine(opts, operands, [], None, None, file)
    return CopyLine(opts, operands, operands[:-1], operands[-1], None, file)


def names_folder(path: str, st: State) -> bool:
    """Whether ``path`` names a folder: by its spelling (``dir/``, ``.``), its place (the home folder and the
    system trees can only be folders), or, when judging for real, the disk."""
    if path.endswith(("/", "\\")) or path in (".", "..") or path.endswith(("/.", "/..")):
        return True
    if st.place(path) in (Place.HOME, Place.SYSTEM_TREE):
        return True
    if st.resolve is None or st.windows != (os.name == "nt") or "$" in path:
        return False
    return os.path.isdir(st.policy.expand(path, st.cwd))


def landing_files(line: CopyLine, st: State) -> list[str]:
    """The files a copy, move or link writes: the destination itself, or a file named after each source inside
    it when it is a folder (``cp x /usr/bin/`` writes ``/usr/bin/x``). What ``cp -r . DIR`` writes is what the
    folder holds, judged as a tree (``writes_whole_tree``)."""
    if line.dest is None:
        return []
    if not line.into_folder(st):
        return [line.dest]
    names = [base_name(source) for source in line.sources]
    return [in_folder(line.dest, name, st) for name in names if name not in ("", ".", "..")]


def base_name(path: str) -> str:
    """The last part of a path, whichever separator it uses."""
    return re.split(r"[/\\]", path.rstrip("/\\"))[-1]


def in_folder(folder: str, name: str, st: State) -> str:
    """``folder/name``, with the separator the shell's paths use."""
    return folder.rstrip("/\\") + ("\\" if st.windows else "/") + name


def _may_exist(targets: list[str], st: State, *, follows: bool) -> bool:
    """Whether a file ``-f`` would replace may be there: one of ``targets`` (or where it leads, ``follows`` as
    for ``judge_write_target``) exists on disk or was written or linked earlier on the line. Any may be when the
    disk is not looked at, or a target is only known when the line runs (a variable, a pattern, a link leading
    somewhere not known)."""
    if st.resolve is None or st.windows or not targets:
        return True
    for target in targets:
        text = st.with_tmpdir(target)
        if "$" in text or st.in_unknown_folder(text) or re.search(r"[*?\[]", text):
            return True
        landed = st.through_links(text, entry=not follows)
        if landed is None:
            return True
        for path in [st.policy.expand(text, st.cwd), *landed]:
            if path in st.written or path in st.links or os.path.lexists(path):
                return True
    return False


def _copies_over(dest: str, inv: Invocation, st: State, *, earlier: bool) -> None:
    """Asks only when the disk shows the file exists (``cp config.example.yml config.yml`` makes a new one);
    ``earlier``: the line wrote it before this copy (judging the copy marks it written)."""
    if st.resolve is None or earlier:
        return
    path = st.policy.expand(dest, st.cwd)
    if not os.path.isdir(path) and not in_temp(dest, st) and _overwrites(dest, path, st, earlier):
        st.add(CONFIRM, "overwrites an existing file", inv.text)


def _web_server(inv: Invocation, st: State) -> None:
    """``busybox httpd -h DIR``, ``http-server DIR`` (npm): a folder shared with the network."""
    from contop.security.embedded import shares_folder

    args = inv.args
    if inv.name == "httpd":
        folder = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-h"), st.cwd)
    else:
        folder = next((a for a in args if not a.startswith("-") and not a.isdigit()), st.cwd)
    bind = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-a", "--address", "-p:")), "")
    shares_folder(folder, bind, st, inv.text)


def _npx(inv: Invocation, st: State) -> None:
    """``npx http-server ~``: the package run is judged as the program it is."""
    opts = 0
    while opts < len(inv.args) and inv.args[opts].startswith("-"):
        opts += 1
    if opts < len(inv.args) and inv.args[opts] in ("http-server", "serve"):
        _web_server(Invocation("http-server", inv.args[opts + 1 :], inv.text), st)


def _sort(inv: Invocation, st: State) -> None:
    """``sort -o settings.yaml /dev/null``: its output file is written as ``>`` would write it."""
    for i, arg in enumerate(inv.args):
        if arg in ("-o", "--output") and i + 1 < len(inv.args):
            judge_write_target(inv.args[i + 1], False, inv, st)
        elif arg.startswith("--output="):
            judge_write_target(arg.split("=", 1)[1], False, inv, st)
        elif arg.startswith("-o") and len(arg) > 2:
            judge_write_target(arg[2:], False, inv, st)


def writes_whole_tree(dest: str, inv: Invocation, st: State) -> None:
    """``cp -r payload/. ~``, ``tar xf a.tar -C ~``: a tree copied or unpacked into a folder that holds a
    restricted one can write into it (``~/.ssh/authorized_keys``, ``~/.bashrc``): the user decides."""
    inside = st.restricted_inside(dest)
    if inside is not None:
        where = "this folder" if dest in (".", "./") else dest
        st.add(CONFIRM, f"writes a whole tree into {where}, which holds the protected {inside}", inv.text)
    writes_into_folder(dest, inv, st)


# Stands for a file whose name the command line does not say (what an archive holds, what a server names).
_ANY_NAME = "file"


def writes_into_folder(folder: str, inv: Invocation, st: State, *, download: bool = False) -> None:
    """Files of names unknown in advance written into ``folder`` (an archive unpacked, a download named by its
    server): judged as one such file is, so an autostart folder asks and ``/usr/bin`` is blocked."""
    target = in_folder(folder or ".", _ANY_NAME, st)
    if download:
        downloads_into(target, inv, st)
    else:
        judge_write_target(target, False, inv, st, guess_existing=False)


def downloads_into(target: str, inv: Invocation, st: State) -> None:
    """A file a download creates: in a login or autostart file it would run what was fetched (blocked, as
    ``curl -o ~/.bashrc`` is); elsewhere it is judged as a redirection there."""
    if persistence_write(target, inv, st):
        st.add(BLOCK, "installs a downloaded file to run automatically at login or boot", inv.text)
    judge_write_target(target, False, inv, st, guess_existing=False)


def _ln(inv: Invocation, st: State) -> None:
    line = copy_line(inv)
    operands = line.operands
    if operands and any(HISTORY_FILE.search(o) for o in operands) and "/dev/null" in operands:
        st.add(BLOCK, "disables shell history", inv.text)
    forced = has_flag(line.opts, "f", "--force") and _may_exist(landing_files(line, st), st, follows=False)
    for target in landing_files(line, st):
        if any(CRITICAL_FILES.search(p) for p in written_paths(target, st, follows=False)):
            st.add(BLOCK, "replaces operating system files", inv.text)
        judge_write_target(target, False, inv, st, guess_existing=False, follows=False)  # 'ln -s x .git/hooks/…'
    if forced:
        st.add(CONFIRM, "replaces existing files with links", inv.text)
    if not st.windows:
        symbolic = _given(line.opts, "s", ("--symbolic", "--sy"))
        _remember_links(line, st, symbolic=symbolic, relative=_given(line.opts, "r", ("--relative", "--r")))


def _remember_links(line: CopyLine, st: State, *, symbolic: bool, relative: bool) -> None:
    """Where each link ``ln`` (or ``cp -s``, ``cp -l``) makes leads, for what the line reads or writes through it
    later (``ln -s ~ /tmp/s; cat /tmp/s/.ssh/id_rsa`` reads the key): a symbolic link holds its source as written,
    which the kernel reads from the link's folder; a hard link (or ``-r``) is the file the source names from the
    working folder. A source known only when the line runs (``$X``) leads somewhere not known."""
    if line.dest is None:
        return
    if line.into_folder(st):
        # named after the source as ln sees it: '~' is the home folder's path by then ('ln -s ~ /tmp/')
        named = [(base_name(st.policy.expand(s, st.cwd) if s.startswith("~") else s), s) for s in line.sources]
        made = [(in_folder(line.dest, name, st), s) for name, s in named if name not in ("", ".", "..")]
    else:
        made = [(line.dest, line.sources[0])] if line.sources else []
    for link, source in made:
        source = st.with_tmpdir(source)
        leads = source
        if not symbolic or relative:
            leads = st.unfolded(source)
        elif source.startswith(("~", "$")):  # '~', '$HOME': the shell puts them in before ln sees the word
            leads = st.policy.expand(source, st.cwd)
        _store_link(link, None if "$" in leads or st.in_unknown_folder(source) else leads, st)


def _store_link(link: str, held: str | None, st: State) -> None:
    """Remember that the line makes a link at ``link`` holding ``held`` (None: only known when it runs)."""
    link = st.with_tmpdir(link)
    unfolded = st.unfolded(link)
    folder, _, name = unfolded.rpartition("/")
    real_folder = st.lands_at(folder or "/")
    if "$" in unfolded or st.in_unknown_folder(link) or real_folder is None or name in ("", ".", ".."):
        st.links[LINK_SOMEWHERE] = None  # it may be in any folder: every path on the line may go through it
        return
    st.links[real_folder.rstrip("/") + "/" + name] = held
    st.links.setdefault(st.policy.expand(link, st.cwd), held)  # the name as written, for the checks by name


def _carry_links(line: CopyLine, st: State) -> None:
    """Links the line made that ``mv`` (or ``cp -r``, ``cp -a``, ``cp -P``, which copy links as links) puts
    elsewhere lead from there as they did (``ln -s ~ /tmp/a; mv /tmp/a /tmp/b; cat /tmp/b/.ssh/id_rsa``); a
    symbolic link's relative source is read from its new folder, as the kernel reads it."""
    if st.windows or line.dest is None or not st.links:
        return
    into = line.into_folder(st)
    for source in line.sources:
        for name, below, held in _links_named(source, st):
            dest = in_folder(line.dest, name, st) if into else line.dest
            _store_link(dest.rstrip("/") + "/" + below if below else dest, held, st)


def _links_named(source: str, st: State) -> list[tuple[str, str, str | None]]:
    """The links of the line that ``source`` names or holds, as (the name of what the source names, the link's
    path below it, '' for that itself, and what the link holds). A source only known when the line runs may be
    any of them: one link leading somewhere not known."""
    text = st.with_tmpdir(source)
    entries = None if "$" in text or st.in_unknown_folder(text) else st.through_links(text, entry=True)
    if entries is None:
        return [(base_name(text), "", None)]
    found = []
    for entry in [st.policy.expand(text, st.cwd), *entries]:
        names = entry.rstrip("/").split("/")
        for key, held in st.links.items():
            parts = key.split("/")
            if not key or len(parts) < len(names):
                continue
            if all(component_matches(n, p, st.dotglob) for n, p in zip(names, parts, strict=False)):
                found.append((parts[len(names) - 1], "/".join(parts[len(names) :]), held))
    return found


# The programs that mount or unmount a file system (their rules are in ``cmdmount``): a mount is a link too.
MOUNTERS = frozenset({"mount", "umount", "systemd-mount", "fusermount", "fusermount3", "bindfs", "sshfs",
                      "archivemount", "squashfuse", "fuse-overlayfs", "mergerfs", "s3fs", "ntfs-3g", "fuse2fs",
                      "fuse-zip", "ratarmount", "guestmount", "encfs", "gocryptfs", "rclone-mount", "mount.cifs",
                      "mount.nfs", "mount.fuse", "mount.fuse3"})  # fmt: skip
LINK_MAKERS = frozenset({"ln", "cp", "mv"}) | MOUNTERS  # the commands whose links the line remembers (``State.links``)


def own_links(inv: Invocation, st: State) -> dict[str, str | None]:
    """The links ``State.links`` holds where a link maker (``LINK_MAKERS``) puts what it makes: at or under its
    destination (or anywhere, when that is only known as it runs). On the second look at a line, which judges it
    as if every link it makes were there from the start (``State.seeded``), they are taken out of ``st.links``
    while the command that makes them is judged, and returned: they are not there before it runs."""
    if inv.name in MOUNTERS:  # a mount: the folder it mounts on
        from contop.security.cmdmount import mount_target

        found = mount_target(inv)
    else:
        found = copy_line(inv).dest
    if found is None or st.windows:
        return {}
    dest = st.with_tmpdir(found)
    if "$" in dest or st.in_unknown_folder(dest):
        return {LINK_SOMEWHERE: st.links.pop(LINK_SOMEWHERE)} if LINK_SOMEWHERE in st.links else {}
    entries = [st.policy.expand(dest, st.cwd), *(st.through_links(dest, entry=True) or ())]
    starts = tuple(entry.rstrip("/") + "/" for entry in entries)
    mine = [key for key in st.links if key and (key in entries or key.startswith(starts))]
    return {key: st.links.pop(key) for key in mine}


def _chmod(inv: Invocation, st: State) -> None:
    opts, operands = split_opts(inv.args)
    recursive = has_flag(opts, "R", "--recursive")
    targets = operands[1:]
    worst = worst_place(targets, st)
    if recursive and worst >= Place.SYSTEM_FILE:
        st.add(BLOCK, "changes permissions or owners of a whole system tree", inv.text)
    if inv.name == "chmod" and operands and re.search(r"[ugoa]*\+[rwx]*s|^[2-7][0-7]{3}$", operands[0]):
        st.add(BLOCK, "makes a program run with its owner's rights for everyone (setuid)", inv.text)
    if worst >= Place.SYSTEM_FILE:
        st.add(CONFIRM, "changes permissions of system files", inv.text)
    if recursive and worst == Place.HOME:
        st.add(BLOCK, "changes permissions of your whole home directory", inv.text)


RAW_DEVICE_READ = "reads a raw disk or memory device, which holds every file (protected ones too)"


# Block devices and memory by every name they go by: a disk or partition, globbed ('/dev/sd?', '/dev/sd[a]'), by its
# links ('/dev/disk/by-uuid/…', '/dev/block/8:0'), an optical or network disk, the kernel's memory; on Windows a
# drive, a volume or a partition through the device namespace ('\\?\GLOBALROOT\Device\Harddisk0\Partition0',
# '\\.\HarddiskVolume1', '\\?\Volume{…}' without the slash that makes it the volume's folder, '\\.\C:').
_DISK = (
    r"/dev/(?:(?:sd|hd|vd|xvd)[a-z?*\[]|nvme\d|mmcblk\d|disk\d|rdisk\d|md\d|dm-\d|mapper/|loop\d|sr\d|nbd\d|"
    r"disk/by-[^/]+/[^/]|block/[^/]|mem$|kmem$|port$|root$|cdrom$|dvd$)|/proc/kcore$|"
    r"(?:\\\\|//)[.?](?:\\|/)(?:physicaldrive|globalroot(?:\\|/)device|harddisk|volume\{[^}]*\}$|cdrom\d|tape\d|[a-z]:$)"
)
RAW_DEVICE = re.compile(_DISK, re.IGNORECASE)
DEVICE_HINT = re.compile(r"dev|kcore|\\\\|//")  # what a text naming a device holds, to look no further without it
# A device named inside a program's text ('open("/dev/sda")', "IO.FileStream('\\.\PhysicalDrive0', …)").
_QUOTED_DEVICE = re.compile(r"(?<=['\"(])(?:" + _DISK.replace("$", "(?=['\"])") + ")", re.IGNORECASE)
# Programs that name a disk without reading its content: listing it, its size, its mounts (the tools that write
# one have their own rules).
DISK_LISTERS = frozenset({"lsblk", "blkid", "ls", "stat", "file", "df", "du", "umount", "findmnt", "eject",
                          "udevadm", "smartctl", "hdparm", "readlink", "realpath", "test", "[", "echo", "printf",
                          "lsof", "fuser", "partprobe", "dirname", "basename", "which", "where-object", "?",
                          "get-ciminstance", "get-wmiobject", "get-disk", "get-partition", "get-volume"})  # fmt: skip


def names_raw_device(source: str, st: State) -> bool:
    """Whether ``source`` names a whole disk, a partition or memory, as written or from the working folder
    (``cd /dev; cat sda``)."""
    if st.place(source) == Place.DEVICE:
        return True
    word = source.strip("\"'")
    return RAW_DEVICE.match(word) is not None or any(RAW_DEVICE.match(p) for p in written_paths(word, st))


def reads_raw_device(source: str, inv: Invocation, st: State) -> None:
    """A program reading ``source``: a whole disk, a partition or memory (``/dev/sda``, ``\\\\.\\PhysicalDrive0``,
    ``\\\\.\\C:``) is blocked, as writing one is: every protected file can be read from it, past the path checks."""
    if names_raw_device(source, st):
        st.add(BLOCK, RAW_DEVICE_READ, inv.text)


def given_raw_device(words: list[str], inv: Invocation, st: State, *, text_too: bool = True) -> None:
    """Any program but a lister given a disk (``gzip -c /dev/sda``, ``debugfs /dev/sda1``, ``if=/dev/sda``,
    ``--device=/dev/sda``) reads it; so does code that names one in quotes (``open('/dev/sda')``)."""
    if inv.name in DISK_LISTERS or RULES.get(inv.name) in (_disk_tool, _dd):
        return
    for word in words:
        value = word.split("=", 1)[1] if "=" in word and not word.startswith(("/", "\\")) else word
        if value and (value[0] in "/\\" or "/" not in value) and names_raw_device(value, st):
            st.add(BLOCK, RAW_DEVICE_READ, inv.text)
        if text_too and DEVICE_HINT.search(word) and _QUOTED_DEVICE.search(word):
            st.add(BLOCK, RAW_DEVICE_READ, inv.text)


def _dd(inv: Invocation, st: State) -> None:
    for arg in inv.args:
        if arg.startswith("if="):
            reads_raw_device(arg[3:], inv, st)
        if arg.startswith("of="):
            target = arg[3:]
            if st.place(target) == Place.DEVICE:
                st.add(BLOCK, "writes raw data over a disk", inv.text)
            elif any(CRITICAL_FILES.search(p) for p in written_paths(target, st)):
                st.add(BLOCK, "overwrites operating system files", inv.text)
            st.add(CONFIRM, "writes raw data with dd", inv.text)


def _disk_tool(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if inv.name in ("fdisk", "sfdisk", "parted", "gdisk", "sgdisk", "blkid", "lsblk") and (
        any(a in ("-l", "--list", "print", "-p", "--print") for a in lowered) or not inv.args
    ):
        return
    if inv.name == "mkswap" and not any(st.place(a) == Place.DEVICE for a in inv.args):
        st.add(CONFIRM, "formats a swap file", inv.text)
        return
    if inv.name == "mkfs" and inv.args and not any(st.place(a) == Place.DEVICE for a in inv.args):
        st.add(CONFIRM, "creates a file system in a file", inv.text)
        return
    st.add(BLOCK, f"erases or repartitions a disk ({inv.name})", inv.text)


def _truncate(inv: Invocation, st: State) -> None:
    _opts, targets = split_opts(inv.args)
    paths = [p for t in targets for p in written_paths(t, st)]
    if any(re.search(r"/var/log/", p) for p in paths):
        st.add(BLOCK, "erases system logs", inv.text)
    if any(HISTORY_FILE.search(t) for t in targets + paths):
        st.add(BLOCK, "erases shell history", inv.text)
    st.add(CONFIRM, "empties or shrinks files", inv.text)


def _sed(inv: Invocation, st: State) -> None:
    scripts, script_files, files, in_place, sandboxed = _sed_parts(inv.args)
    if in_place:
        edits_files_in_place(files, inv, st)
    if sandboxed:  # --sandbox refuses the e, r and w commands
        return
    texts: list[str] = []
    for script in scripts:
        known = _substituted(script, st)
        if known is not None:
            texts.append(known)
    for path in script_files:
        text = stdin_text(inv, st) if path in ("-", "/dev/stdin") else script_text(path, st)
        if text is None:
            st.add(CONFIRM, "runs a sed script whose text cannot be known in advance", inv.text)
        else:
            texts.append(text)
    _sed_commands("\n".join(texts), inv, st)


def _substituted(text: str, st: State) -> str | None:
    """A script argument with its substitution put in (``sed "$(printf '1e id')"``) when what it prints can be
    known; None when it cannot (``$(cat script.sed)`` is judged as the unknown pattern it is)."""
    if "$(" not in text and "`" not in text:
        return text
    if text.startswith("$(") and matching_end(text, 2, ")") == len(text) - 1:
        from contop.security.posix import produce_script

        produced = produce_script(parse(text[2:-1]), st)
        return produced if isinstance(produced, str) else None
    return None


_SED_LONG = (("--expression", "--e"), ("--file", "--fi"), ("--line-length", "--l"), ("--in-place", "--i"),
             ("--sandbox", "--sa"))  # fmt: skip


def _sed_parts(args: list[str]) -> tuple[list[str], list[str], list[str], bool, bool]:
    """What a sed command line holds: its script pieces (-e, or the first operand), its script files (-f), the
    files it reads, whether it edits them in place (-i) and whether --sandbox turns its e, r and w commands off.
    Short options run together as GNU sed reads them: ``-ne 's/a/b/'``, ``-i.bak``, ``-es/a/b/``."""
    scripts: list[str] = []
    script_files: list[str] = []
    operands: list[str] = []
    in_place = sandboxed = False
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--":
            operands += args[i + 1 :]
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            full = long_option(name, _SED_LONG)
            if full in ("--expression", "--file", "--line-length"):
                if not eq:
                    value, i = following, i + 1
                (scripts if full == "--expression" else script_files if full == "--file" else []).append(value)
            in_place = in_place or full == "--in-place"
            sandboxed = sandboxed or full == "--sandbox"
        elif arg.startswith("-") and arg != "-":
            for k, letter in enumerate(arg[1:], 1):
                if letter == "i":  # what follows is the backup suffix: '-ie' keeps a copy named FILEe
                    in_place = True
                    break
                if letter in "efl":
                    value = arg[k + 1 :]
                    if not value:
                        value, i = following, i + 1
                    (scripts if letter == "e" else script_files if letter == "f" else []).append(value)
                    break
        else:
            operands.append(arg)
        i += 1
    if not scripts and not script_files and operands:
        scripts, operands = operands[:1], operands[1:]
    return scripts, script_files, operands, in_place, sandboxed


def edits_in_place(target: str, inv: Invocation, st: State) -> None:
    """A file an editor rewrites (sed -i, vim's :w): login files and system files are serious, wherever the
    links on its path lead."""
    paths = _landing_paths(target, True, inv, st)
    for path in paths:
        st.written.setdefault(path, None)  # its new text is not known: running it later on the line asks
    if persistence_write(target, inv, st):
        return
    if any(CRITICAL_FILES.search(p) for p in paths):
        st.add(BLOCK, "rewrites operating system files", inv.text)
    elif any(p.startswith("/etc/") for p in paths):
        st.add(CONFIRM, "edits system configuration", inv.text)


def edits_files_in_place(files: list[str], inv: Invocation, st: State) -> None:
    """The files sed -i or gawk's inplace library rewrite, each judged by ``edits_in_place``; several at once (a
    glob, or names xargs hands over) ask, as a mistake there changes them all."""
    for f in files:
        edits_in_place(f, inv, st)
    if len(files) > 1 or any(re.search(r"[*?\[]", f) for f in files) or inv.via_xargs:
        st.add(CONFIRM, "edits many files in place", inv.text)


def _sed_commands(script: str, inv: Invocation, st: State) -> None:
    """GNU sed's ``e`` command and ``s///e`` flag run a shell command; ``r``/``R`` read a file, ``w``/``W`` and
    ``s///w`` write one. A script too unusual to read asks: sed itself refuses most of those."""
    found, understood = _sed_script(script)
    if not understood:
        st.add(CONFIRM, "runs a sed script that could not be judged", inv.text)
    for kind, value in found:
        if kind == "e":
            st.add(CONFIRM, "runs a shell command from a sed script", inv.text)
            if value.strip():
                from contop.security.posix import analyze_nested

                analyze_nested(value, st)
        elif kind == "r":
            st.check_paths([value], inv.text)
        else:
            writes_file(value, False, inv, st)


def writes_file(target: str, append: bool, inv: Invocation, st: State) -> None:
    """A file that a program's option or script writes, judged as a redirection to it is."""
    st.check_paths([target], inv.text, writes=True)
    judge_write_target(target, append, inv, st)


_SED_NO_ARGUMENT = frozenset("=dDgGhHnNpPxzF")
_SED_TO_LINE_END = {"r": "r", "R": "r", "w": "w", "W": "w", "e": "e"}  # the rest of the line is their argument


def _sed_script(script: str) -> tuple[list[tuple[str, str]], bool]:
    """The commands of a sed script that run, read or write something, as (``e``/``r``/``w``, argument), and
    whether the whole script followed GNU sed's grammar."""
    found: list[tuple[str, str]] = []
    n = len(script)
    i = 0
    while True:
        while i < n and script[i] in " \t\n;":
            i += 1
        if i >= n:
            return found, True
        i = _sed_address(script, i)
        if 0 <= i < n and script[i] == ",":
            i = _sed_address(script, _skip_blanks(script, i + 1), second=True)
        if i < 0:
            return found, False
        i = _skip_blanks(script, i)
        while i < n and script[i] == "!":
            i = _skip_blanks(script, i + 1)
        if i >= n:
            return found, False
        command = script[i]
        i += 1
        if command in "{}":
            continue
        if command == "#" or command in "aic":  # a comment; text to insert (a backslash continues the line)
            while i < n and script[i] != "\n":
                i += 2 if script[i] == "\\" else 1
            continue
        if command in ":btTv":  # labels and a version end at a semicolon or the end of the line
            while i < n and script[i] not in ";\n":
                i += 1
            continue
        if command in _SED_TO_LINE_END:
            end = script.find("\n", i)
            end = n if end < 0 else end
            found.append((_SED_TO_LINE_END[command], script[i:end].strip()))
            i = end
            continue
        if command in "qQlL":
            i = _skip_blanks(script, i)
            while i < n and script[i].isdigit():
                i += 1
        elif command in "sy":
            if i >= n or script[i] in "\n\\":
                return found, False
            delimiter = script[i]
            i = sed_delimited(script, i + 1, delimiter, brackets=command == "s")
            i = sed_delimited(script, i, delimiter, brackets=False) if i >= 0 else i
            if i < 0:
                return found, False
            while command == "s" and i < n and script[i] in "gpiImMew0123456789":
                flag = script[i]
                i += 1
                if flag == "e":
                    found.append(("e", ""))  # the pattern space, whatever the input makes it, is run
                elif flag == "w":
                    end = script.find("\n", i)
                    end = n if end < 0 else end
                    found.append(("w", script[i:end].strip()))
                    i = end
        elif command not in _SED_NO_ARGUMENT:
            return found, False
        i = _skip_blanks(script, i)
        if i < n and script[i] not in ";\n}#":
            return found, False


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _sed_address(script: str, i: int, *, second: bool = False) -> int:
    """Where the address at ``i`` ends (``i`` when there is none), or -1 when it is malformed: ``12``, ``$``,
    ``/re/I``, ``\\%re%``, ``first~step``, and after a comma ``+N`` and ``~N``."""
    n = len(script)
    if i >= n:
        return -1 if second else i
    c = script[i]
    if c.isdigit() or (second and c in "+~"):
        i += 1
        while i < n and (script[i].isdigit() or script[i] == "~"):
            i += 1
        return i
    if c == "$":
        return i + 1
    if c in "/\\":
        if c == "\\":
            i += 1
            if i >= n:
                return -1
        i = sed_delimited(script, i + 1, script[i], brackets=True)
        while 0 <= i < n and script[i] in "IM":
            i += 1
        return i
    return -1 if second else i


def sed_delimited(script: str, i: int, delimiter: str, *, brackets: bool) -> int:
    """The position after the ``delimiter`` that ends the part starting at ``i`` (a regular expression, where a
    bracket expression may hold the delimiter, or a replacement), or -1 when there is none."""
    n = len(script)
    while i < n:
        c = script[i]
        if c == "\\":
            i += 2
            continue
        if c == delimiter:
            return i + 1
        if c == "\n":
            return -1
        if c == "[" and brackets:
            j = i + 1
            if j < n and script[j] == "^":
                j += 1
            if j < n and script[j] == "]":
                j += 1
            while j < n and script[j] != "]":
                if script[j] == "[" and j + 1 < n and script[j + 1] in ":=.":
                    close = script.find(script[j + 1] + "]", j + 2)
                    j = close + 1 if close > 0 else j
                j += 1
            i = j
        i += 1
    return -1


def _tee(inv: Invocation, st: State) -> None:
    opts, files = split_opts(inv.args)
    append = has_flag(opts, "a", "--append")
    for f in files:
        judge_write_target(f, append, inv, st)


_PATCH_LONG = (("--output", "--o"), ("--reject-file", "--reject-fi"), ("--directory", "--di"), ("--input", "--inp"),
               ("--dry-run", "--dr"), ("--prefix", "--pr"), ("--basename-prefix", "--ba"), ("--ifdef", "--if"),
               ("--fuzz", "--fu"), ("--get", "--g"), ("--strip", "--st"), ("--reject-format", "--reject-fo"),
               ("--suffix", "--su"), ("--version-control", "--version-"), ("--quoting-style", "--q"),
               ("--read-only", "--rea"))  # fmt: skip
_PATCH_LONG_VALUED = frozenset(name for name, _ in _PATCH_LONG if name != "--dry-run")


def _patch(inv: Invocation, st: State) -> None:
    """``patch ~/.bashrc fix.diff`` rewrites the file it is given (or writes -o FILE), and -r FILE gets the
    rejected parts; with -d DIR, relative names are in DIR. Files named only inside the patch are not known."""
    options, operands = getopt(inv.args, "BdDFgioprVYz", _PATCH_LONG, _PATCH_LONG_VALUED)
    values = dict(options)
    if "--dry-run" in values:
        return
    folder = values.get("-d", values.get("--directory", ""))

    def there(path: str) -> str:
        return path if not folder or path.startswith(("/", "~")) else folder.rstrip("/") + "/" + path

    output = values.get("-o", values.get("--output", ""))
    if output and output != "-":
        writes_file(there(output), False, inv, st)
    elif operands:
        edits_in_place(there(operands[0]), inv, st)
    reject = values.get("-r", values.get("--reject-file", ""))
    if reject and reject != "-":
        writes_file(there(reject), False, inv, st)


_SPLIT_LONG = (("--additional-suffix", "--ad"), ("--filter", "--fi"), ("--suffix-length", "--su"), ("--bytes", "--b"),
               ("--line-bytes", "--line-"), ("--lines", "--lines"), ("--number", "--numb"),
               ("--separator", "--se"), ("--prefix", "--p"), ("--suffix-format", "--suffix-f"),
               ("--digits", "--d"))  # fmt: skip
_SPLIT_LONG_VALUED = frozenset(name for name, _ in _SPLIT_LONG)


def _split(inv: Invocation, st: State) -> None:
    """``split x /etc/cron.d/job`` writes ``/etc/cron.d/jobaa``…, ``csplit -f PREFIX`` ``PREFIX00``…: judged by
    the first of those files; split's --filter runs a command with each piece instead."""
    valued = "abCltn" if inv.name == "split" else "bfn"
    options, operands = getopt(inv.args, valued, _SPLIT_LONG, _SPLIT_LONG_VALUED)
    values = dict(options)
    if "--filter" in values:
        runs_given_command(values["--filter"], "split's", inv, st)
        return
    if inv.name == "split":
        prefix = operands[1] if len(operands) > 1 else "x"
        writes_file(prefix + "aa" + values.get("--additional-suffix", ""), False, inv, st)
    else:
        writes_file(values.get("-f", values.get("--prefix", "xx")) + "00", False, inv, st)


# ------------------------------------------------------------------------------------------- writes


def persistence_write(target: str, inv: Invocation, st: State) -> bool:
    """A write into a login or autostart file, as named or wherever the links on its path lead (``ln -s ~ /tmp/h;
    echo … >> /tmp/h/.bashrc``): asks, and blocks when the line also fetches or hides a program."""
    if not any(PERSISTENCE_PATH.search(p) for p in (target, *written_paths(target, st))):
        return False
    if SUSPICIOUS_PAYLOAD.search(st.source):
        st.add(BLOCK, "installs a hidden or downloaded program to start automatically", inv.text)
    st.add(CONFIRM, "changes what runs automatically at login or boot", inv.text)
    return True


def judge_write_target(
    target: str, append: bool, inv: Invocation, st: State, *, guess_existing: bool = True, follows: bool = True
) -> None:
    """A file written by ``>``, ``>>``, tee, Out-File…: devices and system files are serious, as named and
    wherever the links on its path lead (``ln -s /etc /tmp/e; echo x > /tmp/e/hosts``). ``guess_existing`` also
    asks before writing over what looks like an existing file (not for a download's output: saving one under a
    name of its own is what it is for). ``follows``: a link the target names is written through (``>``, ``tee``,
    ``cp``), not replaced (``ln -f``, ``mv``, ``install``)."""
    if not target or target.startswith("&") or _HARMLESS_DEVICES.match(target) or target.lower() in ("nul", "$null"):
        return
    if NET_DEVICE.match(target):
        st.add(BLOCK, "opens a raw network connection from the shell", inv.text)
        return
    if st.in_unknown_folder(target):  # 'cd "$(readlink -f /etc)" && echo x > hosts', as a read there asks
        st.add(CONFIRM, "writes a file in a folder only known when it runs", inv.text)
    place = st.place(target, entry=not follows)
    landed = st.through_links(target, entry=not follows)
    paths = [st.policy.expand(target, st.cwd), *(landed or ())]
    path = paths[0]
    if place == Place.DEVICE:
        st.add(BLOCK, "writes over a disk or device", inv.text)
    if place >= Place.HOME:
        st.add(BLOCK, "overwrites a system folder or your home directory", inv.text)
    if not append and any(HISTORY_FILE.search(p) for p in paths):
        st.add(BLOCK, "erases shell history", inv.text)
    critical = any(CRITICAL_FILES.search(p) for p in paths)
    never_appended = any(re.search(r"sudoers|ld\.so\.preload|passwd|shadow|/s?bin/", p) for p in paths)
    if critical and (not append or never_appended):  # before the login-file rule: /etc/ld.so.preload is both
        st.add(BLOCK, "overwrites operating system files", inv.text)
    if persistence_write(target, inv, st):
        for each in paths:
            st.written.setdefault(each, None)
        return
    if critical:
        if append and not never_appended:
            st.add(CONFIRM, "appends to a system file", inv.text)
        else:
            st.add(BLOCK, "overwrites operating system files", inv.text)
    elif place == Place.SYSTEM_FILE or _in_system_folder(paths, st):
        st.add(CONFIRM, "writes into a system folder", inv.text)
    if guess_existing and not append and not in_temp(target, st) and _overwrites(target, path, st):
        st.add(CONFIRM, "overwrites an existing file", inv.text)
    if landed is None:
        st.add(CONFIRM, _WRITES_THROUGH_UNKNOWN, inv.text)
    # Running it later on the line runs what this writes, not what the disk holds now ('sed -i … run.sh; bash
    # run.sh', 'cp x node_modules/.bin/tsc; npx tsc'): its text is unknown unless the write says it ('>' does).
    for each in paths:
        st.written.setdefault(each, None)


def written_paths(target: str, st: State, *, follows: bool = True) -> list[str]:
    """The path ``target`` names and the places it leads to through links (``State.through_links``; ``follows``
    as for ``judge_write_target``). A place not known is left out here: ``_landing_paths`` asks about it."""
    return [st.policy.expand(target, st.cwd), *(st.through_links(target, entry=not follows) or ())]


def _landing_paths(target: str, follows: bool, inv: Invocation, st: State) -> list[str]:
    """``written_paths``, asking first when a link on the way leads somewhere not known."""
    landed = st.through_links(target, entry=not follows)
    if landed is None:
        st.add(CONFIRM, _WRITES_THROUGH_UNKNOWN, inv.text)
    return [st.policy.expand(target, st.cwd), *(landed or ())]


_WRITES_THROUGH_UNKNOWN = "writes through a link this command makes to a place only known when it runs"
_SYSTEM_FOLDERS = ("/etc/", "/usr/", "/opt/")


def _in_system_folder(paths: list[str], st: State) -> bool:
    """Whether a write lands in a system folder: as named (the first of ``paths``), or through links, unless
    where it lands is in the home folder (``/home`` is a link to ``/usr/home`` on FreeBSD)."""
    if paths[0].startswith(_SYSTEM_FOLDERS):
        return True
    landed = [p for p in paths[1:] if p.startswith(_SYSTEM_FOLDERS)]
    if not landed:
        return False
    home = (st.lands_at(st.policy.home) or st.policy.home).rstrip("/") + "/"
    return any(not p.startswith(home) for p in landed)


def in_temp(target: str, st: State) -> bool:
    """Whether a write lands in the temporary folder, where files are scratch: it names that folder and stays in
    it once followed as the kernel follows it, through ``..`` (``/tmp/../work/pyproject.toml``), the links on
    disk (``/tmp/x/proj/pyproject.toml`` with ``proj -> /work``) and those the line made before it (``ln -s /work
    /tmp/w; echo x > /tmp/w/pyproject.toml``): all those are the project's file."""
    if st.windows:
        return target.startswith(("%TEMP%\\", "%TEMP%/")) and ".." not in re.split(r"[/\\]", target)
    named = st.named_temp(target)
    if named is None:
        return False
    root, text = named
    real, real_root = st.lands_at(st.unfolded(text)), st.lands_at(root)  # /tmp may be a link (macOS)
    return real is not None and real_root is not None and real.startswith(real_root.rstrip("/") + "/")


def _overwrites(target: str, path: str, st: State, earlier: bool | None = None) -> bool:
    """Whether ``> target`` replaces a file worth keeping: one whose name says source or configuration, and that
    exists, when this decision may look at the disk (a new ``script.py`` is not asked about; a log never is).
    The file looked for is where the write lands, through ``..`` and the links the line made before it."""
    if _EXISTING_LOOKING.search(target) is None:
        return False
    named = st.with_tmpdir(target)
    if named != target:
        target, path = named, st.policy.expand(named, st.cwd)
    if st.resolve is None or st.windows or "$" in target or target.startswith("&"):
        return True
    real = path
    if st.links or ".." in target.split("/"):
        landing = st.lands_at(st.unfolded(target))
        if landing is None:
            return True
        real = landing
    if earlier is None:  # the line wrote it before: its own file, not one worth keeping ('ln' writes only a link)
        earlier = real in st.written or (path in st.written and path not in st.links)
    return os.path.lexists(real) and not earlier


# ------------------------------------------------------------------------------------------- options that run code
# Programs whose options, settings or script text name a command to run or a file to read or write: each such
# command is judged as one, each file as a read or a write, and a command given to a program asks first.


def long_option(word: str, names: tuple[tuple[str, str], ...]) -> str:
    """The full spelling of a long option among ``names`` (each with the shortest abbreviation that GNU getopt
    takes for it: ``--to-com`` is ``--to-command``), else ``word`` itself, without any ``=value``."""
    given = word.split("=", 1)[0]
    for full, least in names:
        if len(given) >= len(least) and full.startswith(given):
            return full
    return given


def getopt(
    args: list[str], valued: str, longs: tuple[tuple[str, str], ...], long_valued: frozenset[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Options as GNU getopt reads them, each as (``-x`` or its full long name, value or ""), and the operands:
    ``valued`` letters take the rest of their word or the next one, ``long_valued`` names ``=value`` or the next
    word; options and operands may be mixed until ``--``."""
    found: list[tuple[str, str]] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--":
            operands += args[i + 1 :]
            break
        if arg.startswith("--"):
            name = long_option(arg, longs)
            value = arg.split("=", 1)[1] if "=" in arg else ""
            if "=" not in arg and name in long_valued:
                value, i = following, i + 1
            found.append((name, value))
        elif arg.startswith("-") and arg != "-":
            for k, letter in enumerate(arg[1:], 1):
                if letter in valued:
                    value = arg[k + 1 :]
                    if not value:
                        value, i = following, i + 1
                    found.append(("-" + letter, value))
                    break
                found.append(("-" + letter, ""))
        else:
            operands.append(arg)
        i += 1
    return found, operands


def option_values(args: list[str], short: str, *long: str) -> list[str]:
    """Every value of ``-x VALUE``, ``-xVALUE``, ``--long VALUE`` and ``--long=VALUE`` in ``args``."""
    values: list[str] = []
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else ""
        if (short and arg == short) or arg in long:
            values.append(following)
        elif short and arg.startswith(short) and not arg.startswith("--"):
            values.append(arg[len(short) :])
        elif any(arg.startswith(name + "=") for name in long):
            values.append(arg.split("=", 1)[1])
    return values


def split_words(text: str) -> list[str]:
    """A command line given as one string (``-e 'ssh -p 22'``, ``env -S'…'``), split as the shell would."""
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def runs_given_command(command: str, whose: str, inv: Invocation, st: State) -> None:
    """An option whose value is a command line the program runs: ask, and judge that command as any other."""
    st.add(CONFIRM, f"runs a command given in {whose} options", inv.text)
    nested(command, st)


def nested(command: str, st: State) -> None:
    if command.strip():
        from contop.security.posix import analyze_nested

        analyze_nested(command, st)


MAX_SCRIPT_TEXT = 64 * 1024


def script_text(path: str, st: State) -> str | None:
    """The text of a file a program reads commands from (sed -f, sqlite3 .read, ssh -F): what this line wrote
    into it, else the file on disk when judging for real; "" when there is nothing to read, None when the text
    cannot be known (written by this line in a way we cannot follow, or too long)."""
    full = st.policy.expand(path, st.cwd)
    if full in st.written:
        return st.written[full]
    if st.links and not st.windows:  # read through a link the line made: what it leads to is read
        landing = st.lands_at(st.unfolded(path))
        if landing is None:
            return None
        if landing in st.written:
            return st.written[landing]
        full = landing
    if st.resolve is None or st.windows or not os.path.isfile(full):  # never open a pipe or a device
        return ""
    try:
        with open(full, "rb") as file:
            data = file.read(MAX_SCRIPT_TEXT + 1)
    except OSError:
        return ""
    return None if len(data) > MAX_SCRIPT_TEXT else data.decode("utf-8", errors="replace")


def own_command(text: str) -> Cmd | None:
    """The one simple command ``text`` is (the text of an invocation), parsed again for what the words alone do
    not say: its assignments and here-strings."""
    commands = parse(text).commands()
    return commands[0] if len(commands) == 1 and commands[0].group is None else None


def stdin_text(inv: Invocation, st: State) -> str | None:
    """What a command reads on its standard input when the line says it: a here-string or a here-document."""
    if st.windows or "<<" not in inv.text:
        return None
    cmd = own_command(inv.text)
    if cmd is None:
        return None
    if any(op == "<<<" for op, _ in cmd.redirects):
        return next(body for op, body in cmd.redirects if op == "<<<")
    if any(op == "<<" for op, _ in cmd.redirects):  # the body follows the line, outside the command's own text
        for other in parse(st.source).commands():
            if other.text == inv.text:
                return next((body for op, body in other.redirects if op == "<<"), None)
    return None


_PAGERS = frozenset({"cat", "less", "more", "most", "bat", "batcat", "delta", "diff-so-fancy", "head", "tail"})
_PLAIN_EDITORS = frozenset({"vi", "vim", "nvim", "nano", "pico", "emacs", "emacsclient", "micro", "code", "codium",
                            "subl", "gedit", "kate", "mcedit", "joe", "true", "false", ":"})  # fmt: skip
_PAGER_FLAG = re.compile(
    r"-[RFXSrimMNIJKWwepqQs]+|--(?!\S*(log|key|file|exec|cmd|command|config|init|source|script|shell|open|pipe))"
    r"[a-z][a-z-]*(=[\w.-]+)?"
)  # less's -o FILE writes a log and -k FILE reads key bindings: not plain
_EDITOR_FLAGS = frozenset({"-w", "--wait", "-n", "-nw", "-f", "--nofork", "-R", "--new-window", "--reuse-window"})
PROGRAM_DIR = re.compile(r"(/usr(/local)?|/opt/homebrew)?/bin/")


def plain_program(value: str) -> bool:
    """Whether a pager or editor setting names a plain pager or editor (``less -R``, ``code --wait``, none at
    all), which runs nothing else."""
    words = value.split()
    if not words:
        return True
    if any(c in value for c in "|;&$`<>(){}\\'\"*?!"):
        return False
    program = words[0]
    if "/" in program:
        head, _, program = program.rpartition("/")
        if not PROGRAM_DIR.fullmatch(head + "/"):
            return False
    if program in _PAGERS:
        return all(_PAGER_FLAG.fullmatch(w) for w in words[1:])
    return program in _PLAIN_EDITORS and all(w in _EDITOR_FLAGS for w in words[1:])


def reads_whole_tree(roots: list[str], inv: Invocation, st: State) -> None:
    """A command that reads every file under ``roots`` (grep -r, tar, cp -r, find -exec) reads what the
    restricted folders inside them hold: the user decides."""
    for root in roots:
        inside = st.restricted_inside(root)
        if inside is None and st.resolve is not None:  # judging for real: another server's state directory
            inside = other_state_dir(os.path.join(st.policy.expand(root, st.cwd), "admin.token"), st.windows)
        if inside is not None:
            where = "this folder" if root in (".", "./") else root
            what = inside if inside.startswith("the Contop") else f"the protected {inside}"
            st.add(CONFIRM, f"reads everything under {where}, including {what}", inv.text)
            return


HELP_FLAGS = frozenset({"--help", "--version", "-?", "/?"})


RULES: dict[str, Rule] = {
    "rm": _rm, "unlink": _rm, "rmdir": _rm, "srm": _rm,
    "wipe": _shred, "shred": _shred,
    "find": _find,
    "mv": _mv,
    "cp": _cp, "install": _cp,
    "ln": _ln,
    "sort": _sort,
    "httpd": _web_server, "http-server": _web_server,
    "npx": _npx,
    "chmod": _chmod, "chown": _chmod, "chgrp": _chmod, "chattr": _chmod, "setfacl": _chmod,
    "dd": _dd,
    "mkfs": _disk_tool, "mke2fs": _disk_tool, "mkswap": _disk_tool, "wipefs": _disk_tool, "fdisk": _disk_tool,
    "sfdisk": _disk_tool, "parted": _disk_tool, "gdisk": _disk_tool, "sgdisk": _disk_tool, "cfdisk": _disk_tool,
    "blkdiscard": _disk_tool, "zpool": _disk_tool, "diskutil": _disk_tool, "badblocks": _disk_tool,
    "cryptsetup": _disk_tool, "pvremove": _disk_tool, "vgremove": _disk_tool, "lvremove": _disk_tool,
    "truncate": _truncate,
    "sed": _sed,
    "tee": _tee,
    "patch": _patch,
    "split": _split, "csplit": _split,
    "rename": _rename, "prename": _rename, "file-rename": _rename, "perl-rename": _rename, "rename.ul": _rename,
    "mmv": _rename,
}  # fmt: skip
