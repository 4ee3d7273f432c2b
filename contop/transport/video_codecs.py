"""Codec choice and bitrate for the screen video: aiortc encoder caps, codec preferences, SDP bitrate hints.

The SDP helpers are pure string functions; ``apply_bitrate_caps`` changes aiortc's module-level encoder limits
once per process (aiortc reads them whenever an encoder is built or its target bitrate is set).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# Text stays readable at 720p only well above aiortc's defaults (VP8 starts at 500 kbps, tops out at 1.5 Mbps).
START_BITRATE = 1_500_000
MIN_BITRATE = 250_000
MAX_BITRATE = 5_000_000

# Hints for the client's libwebrtc (kbps), so its bandwidth estimate starts high instead of ramping up slowly.
SDP_START_KBPS = 2000
SDP_MAX_KBPS = 8000

DEFAULT_CODEC_ORDER: tuple[str, ...] = ("VP8", "H264")

# Payload formats that carry no picture of their own: no bitrate hints for them.
_AUXILIARY = frozenset({"rtx", "red", "ulpfec", "flexfec-03"})


@dataclass(frozen=True, slots=True)
class BitrateCaps:
    start: int = START_BITRATE
    minimum: int = MIN_BITRATE
    maximum: int = MAX_BITRATE


def apply_bitrate_caps(caps: BitrateCaps | None = None) -> BitrateCaps:
    """Raise aiortc's VP8 and H264 encoder bitrates (start/min/max, bits per second); call before any encoder exists.

    aiortc keeps these as module constants: ``DEFAULT_BITRATE`` seeds a new encoder's target, and the REMB feedback
    from the receiver is clamped to ``[MIN_BITRATE, MAX_BITRATE]``. Idempotent; returns the caps applied.
    """
    from aiortc.codecs import h264, vpx

    caps = caps or BitrateCaps()
    if not 0 < caps.minimum <= caps.start <= caps.maximum:
        raise ValueError(f"bitrate caps must satisfy 0 < min <= start <= max, got {caps}")
    for module in (vpx, h264):
        module.DEFAULT_BITRATE = caps.start  # type: ignore[attr-defined]
        module.MIN_BITRATE = caps.minimum  # type: ignore[attr-defined]
        module.MAX_BITRATE = caps.maximum  # type: ignore[attr-defined]
    logger.debug("video encoder bitrate: start %d, min %d, max %d bps", caps.start, caps.minimum, caps.maximum)
    return caps


# libvpx settings for the screen, where aiortc's are tuned for cameras: no temporal denoiser (screen pixels carry
# no sensor noise) and the fastest realtime speed. On full-motion 720p text this cuts the encode by about a third
# with the same or better PSNR at equal bitrate (bench/bench_video.py prints the encoder's figures).
SCREEN_VP8_OPTIONS = {"noise-sensitivity": "0", "cpu-used": "-16"}
# A VP8 context is rebuilt for a new target bitrate at most this often (each rebuild costs a keyframe).
REBUILD_INTERVAL_S = 5.0


def screen_vp8_encoder() -> Any:
    """aiortc's VP8 encoder, with its libvpx context opened with ``SCREEN_VP8_OPTIONS`` instead of its own."""
    from aiortc.codecs import vpx

    class ScreenVp8Encoder(vpx.Vp8Encoder):
        opened_at = -REBUILD_INTERVAL_S
        rebuilds = 0  # contexts opened after the first (each starts with a keyframe)

        def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
            # libvpx cannot change its bitrate in place, so a new target means a new context, whose first frame
            # is a keyframe (large, for a screen of text). aiortc starts over whenever the target moves by 10%;
            # on a link whose estimate wobbles that is a keyframe every second, and their bursts cause the loss
            # that lowers the estimate again. Here: at once for a new size or a halved target (congestion),
            # otherwise at most every REBUILD_INTERVAL_S. aiortc then finds our context current and keeps it.
            codec = self.codec
            wanted = self.target_bitrate
            now = time.monotonic()
            if codec is not None:
                current = codec.bit_rate or 1
                if (frame.width, frame.height) != (codec.width, codec.height) or wanted < current / 2:
                    codec = None
                elif abs(wanted - current) > 0.1 * current and now - self.opened_at >= REBUILD_INTERVAL_S:
                    codec = None
            if codec is None:
                if self.codec is not None:
                    self.rebuilds += 1
                codec = self.codec = open_screen_vp8(frame.width, frame.height, wanted)
                self.opened_at = now
            self.target_bitrate = int(codec.bit_rate or wanted)  # for aiortc's own check only
            try:
                return super().encode(frame, force_keyframe)
            finally:
                self.target_bitrate = wanted

    return ScreenVp8Encoder()


def open_screen_vp8(width: int, height: int, bitrate: int) -> Any:
    """A libvpx VP8 encoder context (not yet opened: libvpx takes the options at the first frame)."""
    import multiprocessing

    import av
    from aiortc.codecs import vpx

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.bit_rate, codec.pix_fmt = width, height, bitrate, "yuv420p"
    codec.gop_size = 3000  # keyframes only when the receiver asks (PLI/FIR)
    codec.qmin, codec.qmax = 2, 56
    codec.options = {
        "bufsize": str(bitrate),  # one second of buffer
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(bitrate),  # minrate = maxrate = bit_rate: constant bitrate
        "maxrate": str(bitrate),
        "overshoot-pct": "15",
        "undershoot-pct": "100",
        "partitions": "0",
        "static-thresh": "1",
        **SCREEN_VP8_OPTIONS,
    }
    codec.thread_count = vpx.number_of_threads(width * height, multiprocessing.cpu_count())
    return codec


def use_screen_encoder() -> None:
    """Make aiortc's senders use ``screen_vp8_encoder`` for VP8 (H264 and audio keep aiortc's). Idempotent."""
    from aiortc import rtcrtpsender

    current = rtcrtpsender.get_encoder
    if getattr(current, "contop_screen", False):
        return
    original = current

    def get_encoder(codec: Any) -> Any:
        if str(codec.mimeType).lower() == "video/vp8":
            return screen_vp8_encoder()
        return original(codec)

    get_encoder.contop_screen = True  # type: ignore[attr-defined]
    rtcrtpsender.get_encoder = get_encoder


def prefer_codecs(transceiver: Any, order: Iterable[str] = DEFAULT_CODEC_ORDER) -> list[str]:
    """Put the video codecs named in ``order`` (``"VP8"``, ``"H264"``) first on ``transceiver``, with their RTX.

    Codecs not named keep their relative order after the named ones. Returns the MIME types now preferred. Not
    needed to follow a client's offer: an aiortc answer already keeps the offer's codec order; use this to force
    a choice (a server setting, a test offerer).
    """
    from aiortc import RTCRtpSender

    capabilities = list(RTCRtpSender.getCapabilities("video").codecs)
    wanted = [name.lower() for name in order]
    media = [c for c in capabilities if c.mimeType.lower() != "video/rtx"]
    rtx = [c for c in capabilities if c.mimeType.lower() == "video/rtx"]

    def rank(codec: Any) -> int:
        name = codec.mimeType.split("/", 1)[1].lower()
        return wanted.index(name) if name in wanted else len(wanted)

    ordered = sorted(media, key=rank) + rtx  # sorted() is stable: H264 profiles keep aiortc's order
    transceiver.setCodecPreferences(ordered)
    return [c.mimeType for c in ordered if c not in rtx]


def _split_lines(sdp: str) -> tuple[list[str], str]:
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
    return lines, newline


_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/\s]+)/")
_FMTP = re.compile(r"^a=fmtp:(\d+) ?(.*)$")


def add_bitrate_hints(sdp: str, start_kbps: int = SDP_START_KBPS, max_kbps: int = SDP_MAX_KBPS) -> str:
    """Add ``x-google-start-bitrate`` / ``x-google-max-bitrate`` to every video codec's fmtp line of ``sdp``.

    Pure. A codec without an fmtp line gets one (right after its rtpmap); RTX/RED/FEC formats are left alone;
    existing x-google bitrate values are replaced, so applying it twice changes nothing more.
    """
    if not 0 < start_kbps <= max_kbps:
        raise ValueError("bitrate hints must satisfy 0 < start <= max")
    hints = [f"x-google-start-bitrate={start_kbps}", f"x-google-max-bitrate={max_kbps}"]
    lines, newline = _split_lines(sdp)

    # Find, per video section, the payload types that are real codecs.
    out: list[str] = []
    section_is_video = False
    codec_pts: set[str] = set()
    with_fmtp: set[str] = set()
    section_start = 0
    sections: list[tuple[int, int]] = []  # (start, end) of video sections in ``lines``
    for i, line in enumerate(lines):
        if line.startswith("m="):
            if section_is_video:
                sections.append((section_start, i))
            section_is_video = line.startswith("m=video ")
            section_start = i
    if section_is_video:
        sections.append((section_start, len(lines)))

    cursor = 0
    for start, end in sections:
        out.extend(lines[cursor:start])
        cursor = end
        codec_pts.clear()
        with_fmtp.clear()
        for line in lines[start:end]:
            m = _RTPMAP.match(line)
            if m and m.group(2).lower() not in _AUXILIARY:
                codec_pts.add(m.group(1))
            f = _FMTP.match(line)
            if f:
                with_fmtp.add(f.group(1))
        for line in lines[start:end]:
            f = _FMTP.match(line)
            if f and f.group(1) in codec_pts:
                params = [
                    p
                    for p in f.group(2).split(";")
                    if p.strip() and not p.strip().startswith(("x-google-start-bitrate=", "x-google-max-bitrate="))
                ]
                out.append(f"a=fmtp:{f.group(1)} " + ";".join([*params, *hints]))
                continue
            out.append(line)
            m = _RTPMAP.match(line)
            if m and m.group(1) in codec_pts and m.group(1) not in with_fmtp:
                out.append(f"a=fmtp:{m.group(1)} " + ";".join(hints))
    out.extend(lines[cursor:])
    return newline.join(out) + newline


def video_codecs_in_sdp(sdp: str) -> list[str]:
    """Codec names of the first video section, in the SDP's order of preference (``["VP8", "rtx", ...]``). Pure."""
    lines, _ = _split_lines(sdp)
    names: dict[str, str] = {}
    order: list[str] = []
    in_video = False
    for line in lines:
        if line.startswith("m="):
            if in_video:
                break
            in_video = line.startswith("m=video ")
            if in_video:
                order = line.split()[3:]
            continue
        if in_video:
            m = _RTPMAP.match(line)
            if m:
                names[m.group(1)] = m.group(2)
    return [names[pt] for pt in order if pt in names]
