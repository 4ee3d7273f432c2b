"""The file name a download to a folder takes, which the gate judges and the tool writes."""

from __future__ import annotations

import pytest

from contop.core.downloads import download_name

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://x.io/a/b.zip?v=1#top", "b.zip"),
        ("https://x.io/dir/", "dir"),
        ("https://x.io", "download"),
        ("https://x.io/", "download"),
        ("https://x.io/a/..", "download"),
        ("https://x.io/%2e%2e", "download"),
        ("https://x.io/%2Ebashrc", ".bashrc"),
        ("https://x.io/a%2F.profile", ".profile"),  # a decoded separator never makes a path
        ("https://x.io/a%5C.profile", ".profile"),
        ("  https://x.io/report%20final.pdf ", "report final.pdf"),
        ("http://[::1", "download"),  # unparsable
    ],
)
def test_download_name(url: str, name: str) -> None:
    assert download_name(url) == name
