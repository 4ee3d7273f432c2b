"""A shell's or interpreter's option that takes a value (`bash -o posix -c …`, `python3 -W ignore -c …`) must not
make the gate take that value for the script and leave the program text unjudged."""

from __future__ import annotations

import pytest

from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context

READS_KEY = "cat ~/.ssh/id_rsa"


@pytest.mark.parametrize(
    "command",
    [
        f"bash -o posix -c '{READS_KEY}'",
        f"bash +O extglob -c '{READS_KEY}'",
        f"bash -O dotglob -c '{READS_KEY}'",
        f"sh -o errexit -c '{READS_KEY}'",
        f"bash -eo pipefail -c '{READS_KEY}'",
        f"bash --rcfile x -c '{READS_KEY}'",
        f"echo '{READS_KEY}' | bash -o posix",
        f"echo '{READS_KEY}' | xargs -I{{}} bash -o posix -c '{{}}'",
        "python3 -W ignore -c \"print(open('/etc/shadow').read())\"",
        "python3 -X utf8 -c \"print(open('/etc/shadow').read())\"",
        "node --max-old-space-size 100 -e \"require('fs').readFileSync('/etc/shadow')\"",
        "node -r dotenv/config -e \"require('fs').readFileSync('/etc/shadow')\"",
        "perl -I lib -e 'open F,\"/etc/shadow\"; print <F>'",
        "perl -l -e 'open F,\"/etc/shadow\"; print <F>'",
        "ruby -I lib -e 'puts File.read(\"/etc/shadow\")'",
        "php -d display_errors=1 -r 'echo file_get_contents(\"/etc/shadow\");'",
    ],
)
def test_the_program_after_a_valued_option_is_judged(command: str) -> None:
    decision = classify_command(command, posix_context())
    assert decision.verdict != "safe", decision.reason


@pytest.mark.parametrize(
    "command",
    ["bash -o pipefail -c 'ls -la'", "python3 -W ignore -c 'print(1)'", "python3 -X dev job.py", "perl -lne 'print' f"],
)
def test_everyday_forms_stay_safe(command: str) -> None:
    assert classify_command(command, posix_context()).verdict == "safe"
