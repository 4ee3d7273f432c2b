"""The sandbox's seccomp filter: a small cBPF interpreter runs the program on made-up calls, then real ones."""

from __future__ import annotations

import errno
import struct
import tempfile
from pathlib import Path

import pytest

from contop.security.sandbox import BubblewrapBackend
from contop.security.seccomp import ALLOW, ERRNO, NAMESPACE_FLAGS, X32_BIT, program

X86_64, I386, AARCH64 = 0xC000003E, 0x40000003, 0xC00000B7
CLONE_NEWUSER, CLONE_THREAD = 0x10000000, 0x00010000


def run_filter(code: bytes, nr: int, arch: int, arg0: int = 0) -> int:
    """What the kernel would return for a call: enough of classic BPF for what program() emits."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns = [struct.unpack("<HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = insns[pc]
        if op == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == 0x15:
            pc += jt if acc == k else jf
        elif op == 0x35:
            pc += jt if acc >= k else jf
        elif op == 0x45:
            pc += jt if acc & k else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF opcode {op:#x}")
        pc += 1


@pytest.mark.parametrize(
    ("machine", "arch", "numbers"),
    [
        ("x86_64", X86_64, {"read": 0, "clone": 56, "clone3": 435, "unshare": 272, "setns": 308, "mount": 165,
                            "bpf": 321, "io_uring_setup": 425, "keyctl": 250}),
        ("aarch64", AARCH64, {"read": 63, "clone": 220, "clone3": 435, "unshare": 97, "setns": 268, "mount": 40,
                              "bpf": 280, "io_uring_setup": 425, "keyctl": 219}),
    ],
)  # fmt: skip
def test_the_filter_refuses_namespaces_and_risky_interfaces_only(machine: str, arch: int, numbers: dict) -> None:
    code = program(machine)
    assert code is not None and len(code) % 8 == 0
    eperm, enosys = ERRNO | errno.EPERM, ERRNO | errno.ENOSYS
    assert run_filter(code, numbers["read"], arch) == ALLOW
    for name in ("unshare", "setns", "mount", "bpf", "io_uring_setup", "keyctl"):
        assert run_filter(code, numbers[name], arch) == eperm, name
    assert run_filter(code, numbers["clone"], arch, CLONE_THREAD) == ALLOW  # threads and fork still work
    assert run_filter(code, numbers["clone"], arch, CLONE_NEWUSER | CLONE_THREAD) == eperm
    assert run_filter(code, numbers["clone"], arch, NAMESPACE_FLAGS) == eperm
    assert run_filter(code, numbers["clone3"], arch) == enosys  # the C library falls back to clone
    assert run_filter(code, 3, I386) == eperm  # another ABI: refused whole
    if machine == "x86_64":
        assert run_filter(code, X32_BIT | 272, arch) == eperm  # x32 numbers share the x86-64 arch value
    assert program("riscv-something") is None


_BWRAP = BubblewrapBackend()
needs_bwrap = pytest.mark.skipif(not _BWRAP.available(), reason=f"bubblewrap unusable here: {_BWRAP.describe()}")


@needs_bwrap
async def test_a_sandboxed_command_cannot_make_namespaces_but_works_as_usual() -> None:
    if program() is None:
        pytest.skip("no seccomp filter for this machine")
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "state" / "sandbox" / "workspace"
        result = await _BWRAP.run(
            "unshare -Ur id; unshare -n true; grep '^Seccomp:' /proc/self/status;"
            "python3 -c 'import multiprocessing as m, threading; print(m.Pool(2).map(abs, [-1, -2]))'",
            timeout=30,
            workspace=workspace,
        )
    assert result["stderr"].count("unshare failed: Operation not permitted") == 2, result
    assert "Seccomp:\t2" in result["stdout"] and "[1, 2]" in result["stdout"]
    assert "seccomp" in _BWRAP.describe()
