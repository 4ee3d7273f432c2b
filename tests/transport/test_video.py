"""The screen video track between two real aiortc peers over loopback, on a real Xvfb; and the pure SDP helpers."""

from __future__ import annotations

import asyncio
import fractions
import logging
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, VideoStreamTrack

from contop.core.errors import ToolError
from contop.core.settings import Settings, validate_settings
from contop.platform.capture import ScreenCapturer
from contop.platform.geometry import Rect
from contop.testing.xsession import XSession, start_xsession
from contop.transport import video_codecs
from contop.transport.video import (
    FORCED_LOOK_SECONDS,
    H264_MAX_MACROBLOCKS,
    DamageLooks,
    EmitPolicy,
    ScreenTrack,
    _same_pixels,
    add_bitrate_hints,
    apply_bitrate_caps,
    bgra_to_i420,
    create_screen_track,
    prefer_codecs,
    video_codecs_in_sdp,
    video_size,
)

pytestmark = pytest.mark.timeout(90)


def _config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


async def _negotiate(
    track: Any, *, codecs: list[str] | None = None, hints: bool = True
) -> tuple[RTCPeerConnection, RTCPeerConnection, str, asyncio.Future[Any]]:
    """An offerer with a recvonly video transceiver (like the phone) and an answerer sending ``track``."""
    offerer, answerer = RTCPeerConnection(_config()), RTCPeerConnection(_config())
    remote: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @offerer.on("track")
    def _on_track(t: Any) -> None:
        if not remote.done():
            remote.set_result(t)

    transceiver = offerer.addTransceiver("video", direction="recvonly")
    if codecs:
        prefer_codecs(transceiver, codecs)
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    answerer.addTrack(track)
    await answerer.setLocalDescription(await answerer.createAnswer())
    sdp = answerer.localDescription.sdp
    if hints:
        sdp = add_bitrate_hints(sdp)
    from aiortc import RTCSessionDescription

    await offerer.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
    return offerer, answerer, sdp, remote


def _sending_codec(pc: RTCPeerConnection) -> str:
    # aiortc 1.16 has no RTCRtpSender.getParameters(); the sender encodes with the transceiver's first codec.
    return str(pc.getTransceivers()[0]._codecs[0].mimeType)


async def _close(*pcs: RTCPeerConnection) -> None:
    for pc in pcs:
        await pc.close()


# -- pure helpers -------------------------------------------------------------------------------------------------


def test_video_size_keeps_aspect_and_even_sides() -> None:
    assert video_size(1920, 1080) == (1280, 720)
    assert video_size(1280, 800) == (1280, 800)
    assert video_size(1024, 768, 1280) == (1024, 768)
    assert video_size(2560, 1440, 1920) == (1920, 1080)
    w, h = video_size(1366, 768)
    assert w == 1280 and h % 2 == 0 and abs(h - 720) <= 1
    assert video_size(1001, 501) == (1000, 500)


def test_bgra_to_i420_scales_and_keeps_colour() -> None:
    image = np.zeros((1080, 1920, 4), np.uint8)
    image[:, :] = (0x20, 0x40, 0xC0, 0xFF)  # BGRA of #c04020
    planes = bgra_to_i420(image, 1280, 720)
    assert planes.shape == (1080, 1280) and planes.dtype == np.uint8
    import av

    rgb = av.VideoFrame.from_ndarray(planes, format="yuv420p").to_ndarray(format="rgb24")
    assert np.all(np.abs(rgb[360, 640].astype(int) - (0xC0, 0x40, 0x20)) <= 6), rgb[360, 640]
    # A 3x shrink (4K-class screens) takes the area filter: a one-pixel line must not vanish.
    wide = np.zeros((1080, 3840, 4), np.uint8)
    wide[:, 1500] = 255
    small = bgra_to_i420(wide, 1280, 360)
    assert small[:360].max() > 40


def _sent_times(policy: EmitPolicy, start: float, end: float, fps: float = 30.0) -> list[float]:
    sent, tick = [], 0
    while (t := round(start + tick / fps, 6)) < end:
        if policy.decide(t, changed=False):
            sent.append(t)
        tick += 1
    return sent


def test_emit_policy_sends_changes_then_settles_then_keeps_alive() -> None:
    policy = EmitPolicy(keepalive_fps=2.0, settle=0.5, settle_fps=10.0)
    assert policy.decide(0.0, changed=True)
    assert policy.decide(1 / 30, changed=True)  # every change goes out, at the full tick rate
    settling = _sent_times(policy, 2 / 30, 0.5)
    assert 4 <= len(settling) <= 6  # ~10 fps repeats while the encoder sharpens the picture
    after = _sent_times(policy, 0.5, 3.0)
    assert 4 <= len(after) <= 6  # then ~2 per second over 2.5 s
    assert policy.decide(3.01, changed=True)
    assert len(_sent_times(policy, 3.02, 3.5)) >= 4  # settling again after a new change
    assert not policy.settled(3.4) and policy.settled(3.6)


def test_emit_policy_says_when_the_next_repeat_is_due() -> None:
    """The track sleeps until then on a still screen (with DAMAGE), so it must agree with decide()."""
    policy = EmitPolicy(keepalive_fps=1.0, settle=0.5, settle_fps=10.0)
    assert policy.next_repeat(5.0) == 5.0  # nothing sent yet: at once
    policy.decide(0.0, changed=True)
    due = policy.next_repeat(0.0)
    assert 0.0 < due < 0.1 and not policy.decide(due - 0.001, changed=False) and policy.decide(due, changed=False)
    emitted = due
    due = policy.next_repeat(0.6)  # settled: the keep-alive rate, from the last frame sent
    assert due == pytest.approx(emitted + 0.9)
    assert not policy.decide(due - 0.001, changed=False) and policy.decide(due, changed=False)


def test_emit_policy_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        EmitPolicy(keepalive_fps=0)


class _FakeWatch:
    def __init__(self) -> None:
        self.pending = False
        self.asked = self.rearmed = 0

    def drawn(self) -> bool:
        self.asked += 1
        seen, self.pending = self.pending, False
        return seen

    def rearm(self) -> None:
        self.rearmed += 1


def test_damage_looks_grab_while_changing_then_only_when_something_is_drawn() -> None:
    watch = _FakeWatch()
    looks = DamageLooks(watch)
    now = 100.0
    for _ in range(5):  # changing: every tick grabs, and the server is not asked
        assert looks.should_grab(now, now - 0.03)
        looks.grabbed(True)
    assert watch.asked == 0 and watch.rearmed == 0
    assert looks.should_grab(now, now - 0.03)
    looks.grabbed(False)  # the first unchanged grab re-arms the reports...
    assert watch.rearmed == 1
    assert looks.should_grab(now, now - 0.03)  # ...and one more grab covers the moment before the re-arm
    looks.grabbed(False)
    assert [looks.should_grab(now, now - 0.1) for _ in range(10)] == [False] * 10  # still: no grab
    assert watch.asked == 10
    assert looks.should_grab(now, now - FORCED_LOOK_SECONDS)  # but a look once a second all the same
    looks.grabbed(False)
    watch.pending = True
    assert looks.should_grab(now, now - 0.1)  # something was drawn
    looks.grabbed(True)
    assert looks.state == DamageLooks.CHANGING
    asked = watch.asked
    assert looks.should_grab(now, now - 0.03)
    assert watch.asked == asked  # changing again: no more questions until it settles


def test_damage_looks_a_report_that_changed_nothing_settles_again() -> None:
    watch = _FakeWatch()
    looks = DamageLooks(watch)
    looks.grabbed(False)
    looks.grabbed(False)
    assert looks.state == DamageLooks.WATCHING
    watch.pending = True
    assert looks.should_grab(0.0, -0.1)
    looks.grabbed(False)  # drawn elsewhere, or the same pixels again
    looks.grabbed(False)
    assert looks.state == DamageLooks.WATCHING and watch.rearmed == 2


def test_damage_looks_pointer_motion_alone_is_worth_a_grab() -> None:
    """With a hardware cursor the X server reports no drawing when the pointer moves; the pointer is drawn into
    the grab, so its motion must be enough to grab a still screen."""
    watch = _FakeWatch()
    looks = DamageLooks(watch)
    looks.grabbed(False)
    looks.grabbed(False)
    assert looks.state == DamageLooks.WATCHING
    assert not looks.should_grab(0.0, -0.1)
    assert looks.should_grab(0.0, -0.1, pointer_moved=True)


async def test_a_still_screen_wakes_for_any_of_its_watches() -> None:
    """The track sleeps until the damage watch's or the pointer watch's connection has something to read."""
    import socket

    from contop.transport.video import _until_drawn

    pairs = [socket.socketpair() for _ in range(2)]
    try:
        started = time.monotonic()
        waiting = asyncio.create_task(_until_drawn([pairs[0][0], pairs[1][0]], started + 30))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        pairs[1][1].send(b"x")  # the pointer moved
        await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 10
    finally:
        for a, b in pairs:
            a.close()
            b.close()


@pytest.fixture
def restore_caps() -> Iterator[None]:
    from aiortc.codecs import h264, vpx

    saved = [(m, m.DEFAULT_BITRATE, m.MIN_BITRATE, m.MAX_BITRATE) for m in (vpx, h264)]
    try:
        yield
    finally:
        for m, start, lo, hi in saved:
            m.DEFAULT_BITRATE, m.MIN_BITRATE, m.MAX_BITRATE = start, lo, hi


def test_apply_bitrate_caps_reaches_new_encoders(restore_caps: None) -> None:
    from aiortc.codecs.h264 import H264Encoder
    from aiortc.codecs.vpx import Vp8Encoder

    caps = apply_bitrate_caps()
    assert caps == video_codecs.BitrateCaps(1_500_000, 250_000, 5_000_000)
    for encoder in (Vp8Encoder(), H264Encoder()):
        assert encoder.target_bitrate == 1_500_000
        encoder.target_bitrate = 50_000_000  # what a generous REMB would ask
        assert encoder.target_bitrate == 5_000_000
        encoder.target_bitrate = 1
        assert encoder.target_bitrate == 250_000
    with pytest.raises(ValueError):
        apply_bitrate_caps(video_codecs.BitrateCaps(start=10, minimum=20, maximum=30))


def _text_frames(count: int) -> list[Any]:
    """Black-on-white text that scrolls 3 pixels a frame, as I420 at 640x360."""
    import cv2

    page = np.full((360 * 2, 640, 3), 255, np.uint8)
    for row in range(0, page.shape[0], 16):
        cv2.putText(page, f"line {row:04d} the quick brown fox", (6, row + 12), cv2.FONT_HERSHEY_PLAIN, 1, (0, 0, 0), 1)
    frames = []
    for i in range(count):
        bgra = cv2.cvtColor(np.ascontiguousarray(page[3 * i : 3 * i + 360]), cv2.COLOR_BGR2BGRA)
        frame = av.VideoFrame.from_ndarray(bgra_to_i420(bgra, 640, 360), format="yuv420p")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90_000)
        frames.append(frame)
    return frames


def test_screen_encoder_makes_decodable_sharp_text_and_rebuilds_for_a_new_bitrate_sparingly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each new libvpx context starts with a keyframe: a small rise of the target waits for the rebuild interval,
    a halved target (congestion) and a new frame size do not."""
    from aiortc.codecs.vpx import vp8_depayload

    encoder = video_codecs.screen_vp8_encoder()
    decoder = av.CodecContext.create("libvpx", "r")
    psnr, contexts = [], []
    start = encoder.target_bitrate
    for i, frame in enumerate(_text_frames(40)):
        if i == 10:
            encoder.target_bitrate = int(start * 1.5)  # a REMB update over 10%, soon after the first context
        if i == 20:
            monkeypatch.setattr(video_codecs, "REBUILD_INTERVAL_S", 0.0)  # as if the interval had passed
        if i == 21:
            monkeypatch.setattr(video_codecs, "REBUILD_INTERVAL_S", 3600.0)
        if i == 30:
            encoder.target_bitrate = int(start * 1.5) // 3  # the estimate collapses
        payloads, _ts = encoder.encode(frame)
        contexts.append((encoder.codec, encoder.codec.bit_rate))  # the objects, kept alive: no id reuse
        for decoded in decoder.decode(av.Packet(b"".join(vp8_depayload(p) for p in payloads))):
            err = decoded.to_ndarray()[:360].astype(np.float32) - frame.to_ndarray()[:360].astype(np.float32)
            psnr.append(10 * np.log10(255**2 / max(float(np.mean(err**2)), 1e-6)))
    assert len(psnr) == 40 and min(psnr[5:]) > 25
    assert len({id(c) for c, _ in contexts[:20]}) == 1 and contexts[19][1] == start  # aiortc did not rebuild either
    assert contexts[20][0] is not contexts[19][0] and contexts[20][1] == int(start * 1.5)  # once the interval passed
    assert len({id(c) for c, _ in contexts[20:30]}) == 1
    assert contexts[30][0] is not contexts[29][0] and contexts[30][1] == encoder.target_bitrate  # at once
    assert encoder.rebuilds == 2
    options = video_codecs.open_screen_vp8(1280, 720, 1_500_000).options  # what libvpx is given at the first frame
    assert options["noise-sensitivity"] == "0" and options["cpu-used"] == "-16" and options["deadline"] == "realtime"


def test_senders_use_the_screen_encoder_for_vp8_only() -> None:
    from aiortc import RTCRtpCodecParameters, rtcrtpsender
    from aiortc.codecs.h264 import H264Encoder

    original = rtcrtpsender.get_encoder
    try:
        video_codecs.use_screen_encoder()
        video_codecs.use_screen_encoder()  # idempotent: one wrapper, not two
        patched = rtcrtpsender.get_encoder
        assert getattr(patched, "contop_screen", False)
        vp8 = patched(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))
        assert type(vp8).__name__ == "ScreenVp8Encoder"
        h264 = patched(RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102))
        assert isinstance(h264, H264Encoder)
    finally:
        rtcrtpsender.get_encoder = original


async def _pattern_answer(codecs: list[str] | None = None) -> str:
    offerer, answerer, _sdp, _ = await _negotiate(VideoStreamTrack(), codecs=codecs, hints=False)
    sdp = answerer.localDescription.sdp
    await _close(offerer, answerer)
    return sdp


def _fmtp(sdp: str) -> dict[str, str]:
    out = {}
    for line in sdp.splitlines():
        if line.startswith("a=fmtp:"):
            pt, _, params = line[len("a=fmtp:") :].partition(" ")
            out[pt] = params
    return out


def _rtpmap(sdp: str) -> dict[str, str]:
    out = {}
    for line in sdp.splitlines():
        if line.startswith("a=rtpmap:"):
            pt, _, name = line[len("a=rtpmap:") :].partition(" ")
            out[pt] = name.split("/")[0]
    return out


async def test_bitrate_hints_on_a_real_aiortc_answer() -> None:
    sdp = await _pattern_answer()
    hinted = add_bitrate_hints(sdp)
    names, fmtp = _rtpmap(hinted), _fmtp(hinted)
    codec_pts = [pt for pt, name in names.items() if name in ("VP8", "H264")]
    assert codec_pts, hinted
    for pt in codec_pts:
        assert "x-google-start-bitrate=2000" in fmtp[pt]
        assert "x-google-max-bitrate=8000" in fmtp[pt]
    for pt, name in names.items():
        if name == "rtx":
            assert "x-google" not in fmtp.get(pt, "")
            assert fmtp[pt].startswith("apt=")
    # H264 keeps its own parameters before the hints.
    h264 = [fmtp[pt] for pt in codec_pts if names[pt] == "H264"]
    assert all("packetization-mode=1" in p for p in h264)
    # Idempotent, line endings kept, nothing else touched.
    assert add_bitrate_hints(hinted) == hinted
    assert hinted.endswith("\r\n") and "\n" not in hinted.replace("\r\n", "")
    untouched = [line for line in sdp.splitlines() if not line.startswith("a=fmtp:")]
    assert [line for line in hinted.splitlines() if not line.startswith("a=fmtp:")] == untouched


def test_bitrate_hints_leave_audio_alone_and_replace_old_values() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\n"
        "a=fmtp:96 x-google-max-bitrate=100\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    )
    out = add_bitrate_hints(sdp, start_kbps=1000, max_kbps=3000)
    assert "a=fmtp:111 minptime=10\r\n" in out
    assert "a=fmtp:96 x-google-start-bitrate=1000;x-google-max-bitrate=3000\r\n" in out
    assert "a=fmtp:97 apt=96\r\n" in out
    assert video_codecs_in_sdp(out) == ["VP8", "rtx"]
    with pytest.raises(ValueError):
        add_bitrate_hints(sdp, start_kbps=10, max_kbps=5)


async def test_answer_follows_the_offer_codec_order() -> None:
    assert video_codecs_in_sdp(await _pattern_answer())[0] == "VP8"
    assert video_codecs_in_sdp(await _pattern_answer(["H264"]))[0] == "H264"


# -- on a real X display ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    missing = [p for p in ("Xvfb", "openbox", "dbus-daemon", "xsetroot") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb openbox dbus x11-xserver-utils)")
    session = start_xsession("1920x1080x24")
    try:
        yield session
    finally:
        session.close()


def _root(session: XSession, colour: str) -> None:
    subprocess.run(["xsetroot", "-solid", colour], env=session.child_env(), check=True, timeout=10)


@pytest.fixture
async def screen(xsession: XSession) -> AsyncIterator[ScreenTrack]:
    _root(xsession, "#202020")
    track = await create_screen_track(None, display=xsession.display)
    assert track is not None
    try:
        yield track
    finally:
        track.stop()


async def _frames_until(remote: Any, predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        frame = await asyncio.wait_for(remote.recv(), max(0.1, deadline - time.monotonic()))
        if predicate(frame):
            return frame
        if time.monotonic() > deadline:
            raise AssertionError("no matching frame in time")


def _centre_rgb(frame: Any) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    h, w = rgb.shape[:2]
    return rgb[h // 2 - 8 : h // 2 + 8, w // 2 - 8 : w // 2 + 8].reshape(-1, 3).mean(axis=0)


def _close_to(rgb: np.ndarray, target: tuple[int, int, int], tol: float = 24) -> bool:
    return bool(np.all(np.abs(rgb - np.array(target)) <= tol))


@pytest.mark.x11
@pytest.mark.slow
async def test_decoded_frames_have_the_screen_size_and_follow_its_colour(
    screen: ScreenTrack, xsession: XSession
) -> None:
    offerer, answerer, sdp, remote_future = await _negotiate(screen)
    try:
        assert video_codecs_in_sdp(sdp)[0] == "VP8"
        remote = await asyncio.wait_for(remote_future, 20)
        first = await asyncio.wait_for(remote.recv(), 20)
        assert (first.width, first.height) == (1280, 720)
        await _frames_until(remote, lambda f: _close_to(_centre_rgb(f), (0x20, 0x20, 0x20)), 15)
        _root(xsession, "#d03020")
        await _frames_until(remote, lambda f: _close_to(_centre_rgb(f), (0xD0, 0x30, 0x20)), 15)
        _root(xsession, "#2040c0")
        blue = await _frames_until(remote, lambda f: _close_to(_centre_rgb(f), (0x20, 0x40, 0xC0)), 15)
        assert (blue.width, blue.height) == (1280, 720)
        assert _sending_codec(answerer) == "video/VP8"
    finally:
        await _close(offerer, answerer)


@pytest.mark.x11
@pytest.mark.slow
async def test_unchanged_screen_drops_to_the_keepalive_rate(screen: ScreenTrack, xsession: XSession) -> None:
    offerer, answerer, _sdp, remote_future = await _negotiate(screen)
    try:
        remote = await asyncio.wait_for(remote_future, 20)
        await asyncio.wait_for(remote.recv(), 20)

        async def count(seconds: float) -> int:
            n, end = 0, time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(remote.recv(), left)
                except TimeoutError:
                    break
                n += 1
            return n

        async def flip_colours() -> None:
            for i in range(10_000):
                proc = await asyncio.create_subprocess_exec(
                    "xsetroot", "-solid", ("#101010", "#f0f0f0")[i % 2], env=xsession.child_env()
                )
                await proc.wait()
                await asyncio.sleep(0.03)

        flipper = asyncio.create_task(flip_colours())
        try:
            busy = await count(2.0)
        finally:
            flipper.cancel()
            await asyncio.gather(flipper, return_exceptions=True)
        await asyncio.sleep(1.5)  # past the settle time
        while True:  # drop what the receiver queued while we were away
            try:
                await asyncio.wait_for(remote.recv(), 0.02)
            except TimeoutError:
                break
        before = screen.stats.frames_sent
        idle = await count(3.0)
        sent_idle = screen.stats.frames_sent - before
        assert idle <= 6 and sent_idle <= 6, (idle, sent_idle)  # ~1 fps keep-alive (+ jitter)
        assert idle >= 1  # but never silent
        assert busy >= 6 and busy > idle, (busy, idle)  # loose: the test machine is shared and often loaded
        assert screen.stats.ticks > screen.stats.frames_sent
    finally:
        await _close(offerer, answerer)


async def _consume(track: ScreenTrack) -> None:
    """Pull frames as aiortc's sender would."""
    while True:
        await track.recv()


async def _flip_root(xsession: XSession, seconds: float) -> None:
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        proc = await asyncio.create_subprocess_exec(
            "xsetroot", "-solid", ("#101010", "#f0f0f0")[i % 2], env=xsession.child_env()
        )
        await proc.wait()
        i += 1
        await asyncio.sleep(0.03)


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.parametrize("watch_damage", [True, False])
async def test_a_still_screen_is_not_grabbed_where_the_server_reports_drawing(
    xsession: XSession, watch_damage: bool
) -> None:
    """With DAMAGE, a still screen is neither grabbed nor even ticked over, and one change is grabbed as soon as it
    is drawn (the forced look and the keep-alive frame are pushed out of the way here, so only the server's report
    can find it). Without DAMAGE (the fallback, and other systems) every tick grabs and compares."""
    _root(xsession, "#202020")
    track = ScreenTrack(
        ScreenCapturer(xsession.display),
        owns_capturer=True,
        watch_damage=watch_damage,
        forced_look=60.0,
        keepalive_fps=0.05,
    )
    consumer = asyncio.create_task(_consume(track))
    try:
        await _flip_root(xsession, 1.0)  # changing...
        _root(xsession, "#202020")
        await asyncio.sleep(2.0)  # ...then still, past the settle time
        ticks, grabs = track.stats.ticks, track.stats.grabs
        await asyncio.sleep(3.0)
        still_ticks, still_grabs = track.stats.ticks - ticks, track.stats.grabs - grabs
        if watch_damage:  # nothing to do until the server reports drawing: no grab, and next to no tick (was 90)
            assert still_ticks <= 3 and still_grabs == 0, (still_ticks, still_grabs)
        else:  # the track keeps looking (15 fps once settled; loose for a loaded machine)
            assert still_ticks >= 15, still_ticks
            assert abs(still_grabs - still_ticks) <= 1  # one tick may be between its two counters

        converted = track.stats.frames_converted
        _root(xsession, "#d03020")  # one change on a still screen
        deadline = time.monotonic() + 3.0
        while track.stats.frames_converted == converted and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert track.stats.frames_converted > converted, "the change was not seen"
        await asyncio.sleep(1.0)
        if watch_damage:  # a few grabs around the change, then quiet again
            assert track.stats.grabs - grabs - still_grabs <= 6, track.stats.grabs - grabs - still_grabs
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        track.stop()


@pytest.mark.x11
@pytest.mark.slow
async def test_h264_when_the_offer_prefers_it(screen: ScreenTrack) -> None:
    offerer, answerer, sdp, remote_future = await _negotiate(screen, codecs=["H264", "VP8"])
    try:
        assert video_codecs_in_sdp(sdp)[0] == "H264"
        remote = await asyncio.wait_for(remote_future, 20)
        frame = await asyncio.wait_for(remote.recv(), 20)
        assert (frame.width, frame.height) == (1280, 720)
        assert _sending_codec(answerer) == "video/H264"
    finally:
        await _close(offerer, answerer)


@pytest.mark.x11
async def test_settings_choose_size_and_rate(xsession: XSession) -> None:
    settings = validate_settings({**Settings().to_json_dict(), "video_width": 640, "video_fps": 10})
    track = await create_screen_track(settings, display=xsession.display)
    assert track is not None
    try:
        assert track.fps == 10
        start = time.monotonic()
        frames = [await asyncio.wait_for(track.recv(), 10) for _ in range(3)]
        assert time.monotonic() - start >= 0.15  # paced at 10 fps, not as fast as possible
        assert (frames[0].width, frames[0].height) == (640, 360)
        assert [f.pts for f in frames] == sorted({f.pts for f in frames})
        assert frames[0].time_base.denominator == 90_000
    finally:
        track.stop()
    from aiortc.mediastreams import MediaStreamError

    with pytest.raises(MediaStreamError):
        await track.recv()


class _FlakyCapturer(ScreenCapturer):
    """Fails its first ``failures`` grabs (the display went away), then shows a grey screen."""

    def __init__(self, failures: int) -> None:
        super().__init__(":4242")
        self.failures = failures

    def grab(self, monitor: int = -1) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ToolError("screen grab failed: the X server went away")
        return np.full((720, 1280, 4), 0x80, np.uint8), Rect(0, 0, 1280, 720)


async def test_a_failing_capture_is_retried_and_reported(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A track that ended on a capture error would end aiortc's sender for good (the phone's picture would never
    come back). The track waits and tries again instead, and says so once each way."""
    from contop.transport import video

    monkeypatch.setattr(video, "CAPTURE_RETRY_SECONDS", 0.05)
    track = ScreenTrack(_FlakyCapturer(failures=3), owns_capturer=True, watch_damage=False)
    statuses: list[tuple[str, str]] = []
    track.on_status = lambda kind, text: statuses.append((kind, text))
    try:
        with caplog.at_level(logging.WARNING, logger="contop.transport.video"):
            frame = await asyncio.wait_for(track.recv(), 5)
        assert (frame.width, frame.height) == (1280, 720) and track.readyState == "live"
        assert track.stats.capture_failures == 3
        assert [kind for kind, _ in statuses] == ["video_unavailable", "video_resumed"]
        assert "the X server went away" in statuses[0][1]
        assert sum("screen capture failed" in r.getMessage() for r in caplog.records) == 1  # logged once
    finally:
        track.stop()
    assert track.readyState == "ended"


async def test_a_display_that_cannot_be_opened_gives_a_track_that_retries(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="contop.transport.video"):
        track = await create_screen_track(None, display=":4242")
    try:
        assert track is not None
        assert any("screen video starts when the display can be opened" in r.getMessage() for r in caplog.records)
    finally:
        if track is not None:
            track.stop()


@pytest.mark.parametrize(
    "where",
    [(0, 0, 0), (1079, 1919, 3), (540, 960, 1), (134, 1919, 3), (135, 0, 0)],
    ids=["first byte", "last byte", "middle", "end of the first band", "start of the second band"],
)
def test_a_single_changed_byte_anywhere_on_the_screen_counts_as_a_change(where: tuple[int, int, int]) -> None:
    """The banded comparison must not miss a change in any band, nor at a band's edges."""
    screen = np.random.default_rng(1).integers(0, 255, (1080, 1920, 4), dtype=np.uint8)
    changed = screen.copy()
    changed[where] ^= 1
    assert _same_pixels(screen, screen.copy())
    assert not _same_pixels(screen, changed)
    assert not _same_pixels(screen, None) and not _same_pixels(screen, screen[:540])
    odd = screen[:3, :5, :3].copy()  # not a multiple of 8 bytes: compared as it is
    assert _same_pixels(odd, odd.copy()) and not _same_pixels(odd, odd ^ 1)


def _xrandr(session: XSession, *args: str) -> None:
    subprocess.run(["xrandr", *args], env=session.child_env(), check=True, timeout=10, capture_output=True)


@pytest.mark.x11
@pytest.mark.slow
async def test_the_video_follows_the_screen_through_resolution_changes() -> None:
    """The screen shrinks to 1280x800 (16:10) and grows back to 1920x1080 while a phone watches: the decoded
    frames take each new shape within a couple of seconds, and the track never ends. mss reads the monitors
    once and sizes its buffers to them, so without a fresh look the video died on the shrink."""
    if shutil.which("xrandr") is None:
        pytest.skip("needs xrandr (apt-get install x11-xserver-utils)")
    session = start_xsession("1920x1080x24", dbus=False)  # its own display: the resolution changes here
    offerer = answerer = None
    try:
        _xrandr(session, "--newmode", "1280x800_t", "68.94", "1280", "1328", "1360", "1440", "800", "801", "804", "818")
        _xrandr(session, "--addmode", "screen", "1280x800_t")
        _root(session, "#202020")
        track = await create_screen_track(None, display=session.display)
        assert track is not None
        offerer, answerer, _sdp, remote_future = await _negotiate(track)
        remote = await asyncio.wait_for(remote_future, 20)
        first = await asyncio.wait_for(remote.recv(), 20)
        assert (first.width, first.height) == (1280, 720)
        for mode, size in (("1280x800_t", (1280, 800)), ("1920x1080", (1280, 720))):
            _xrandr(session, "--output", "screen", "--mode", mode)
            _root(session, "#d03020" if size == (1280, 800) else "#2040c0")
            frame = await _frames_until(remote, lambda f, size=size: (f.width, f.height) == size, 15)
            assert track.readyState == "live"
            colour = (0xD0, 0x30, 0x20) if size == (1280, 800) else (0x20, 0x40, 0xC0)
            await _frames_until(remote, lambda f, colour=colour: _close_to(_centre_rgb(f), colour), 15)
        assert (frame.width, frame.height) == (1280, 720)
        # A long-lived capturer (the tools', manual control's) sees the new layout too, within about a second.
        capturer = ScreenCapturer(session.display)
        try:
            assert capturer.monitor_rect() == Rect(0, 0, 1920, 1080)
            _xrandr(session, "--output", "screen", "--mode", "1280x800_t")
            deadline = time.monotonic() + 5
            while capturer.monitor_rect() != Rect(0, 0, 1280, 800):
                assert time.monotonic() < deadline, capturer.monitor_rect()
                await asyncio.sleep(0.1)
            image, _rect = capturer.grab()
            assert image.shape == (800, 1280, 4)
        finally:
            capturer.close()
    finally:
        if offerer is not None and answerer is not None:
            await _close(offerer, answerer)
        session.close()


@pytest.mark.x11
@pytest.mark.slow
async def test_the_phone_hears_when_the_screen_can_no_longer_be_captured(tmp_path: Any) -> None:
    """A real server streaming a real display; the display dies. The phone keeps its session and is told on the
    data channel that the live screen stopped (before, the picture just froze)."""
    from contop.client import ContopClient
    from contop.testing.server import ServerProcess
    from tests.transport.conftest import pair

    session = start_xsession("1280x720x24", window_manager=False)
    server = ServerProcess(tmp_path / "home", env=session.child_env())
    try:
        await asyncio.to_thread(server.start)
        async with ContopClient(pair(server)["url"], device_id="watcher") as client:
            frame = await asyncio.wait_for(client.frames.get(), 20)
            assert (frame.width, frame.height) == (1280, 720)
            session.close()  # the X server goes away
            status = await client.next_message("agent_status", timeout=20)
            payload = status.to_dict()["payload"]
            assert payload["status_type"] == "video_unavailable", payload
            assert "live screen stopped" in payload["message"]
            reply = await client.request({"type": "keepalive", "id": "k-1", "payload": {}}, timeout=5)
            assert reply.type == "keepalive"  # the session carries on
    finally:
        await asyncio.to_thread(server.stop)
        session.close()


@pytest.mark.x11
@pytest.mark.slow
async def test_a_phone_connecting_while_every_output_is_off_gets_the_screen_when_one_is_on_again(
    tmp_path: Any,
) -> None:
    """A laptop's lid is closed (every output off) when the phone connects: it is told the screen cannot be shown,
    and gets the picture once a monitor is on again, without reconnecting. Before, it got no video track at all
    and waited on "Waiting for the desktop's screen…" until the page was reloaded."""
    from contop.client import ContopClient
    from contop.testing.server import ServerProcess
    from tests.transport.conftest import pair

    if shutil.which("xrandr") is None:
        pytest.skip("needs xrandr (apt-get install x11-xserver-utils)")
    session = start_xsession("1280x720x24", window_manager=False, dbus=False)
    server = ServerProcess(tmp_path / "home", env=session.child_env())
    try:
        # Xvfb turns the output off and then refuses to shrink the screen to 0x0 (xrandr exits 1): no monitor left.
        subprocess.run(
            ["xrandr", "--output", "screen", "--off"], env=session.child_env(), timeout=10, capture_output=True
        )
        probe = ScreenCapturer(session.display)
        try:
            assert len(probe.monitors()) == 1  # the whole-screen entry only
        finally:
            probe.close()
        await asyncio.to_thread(server.start)
        async with ContopClient(pair(server)["url"], device_id="lid-closed") as client:
            status = (await client.next_message("agent_status", timeout=20)).to_dict()["payload"]
            assert status["status_type"] == "video_unavailable" and "no active monitor" in status["message"]
            assert client.frame_count == 0
            _xrandr(session, "--output", "screen", "--mode", "1280x720")
            frame = await asyncio.wait_for(client.frames.get(), 20)
            assert (frame.width, frame.height) == (1280, 720)
            resumed = (await client.next_message("agent_status", timeout=10)).to_dict()["payload"]
            assert resumed["status_type"] == "video_resumed"
    finally:
        await asyncio.to_thread(server.stop)
        session.close()


def test_h264_frames_stay_within_the_level_aiortc_announces() -> None:
    for screen, expected in (((1920, 1200), (1204, 752)), ((1920, 1080), (1280, 720)), ((1280, 1024), (1060, 848))):
        w, h = video_size(*screen, 1280, H264_MAX_MACROBLOCKS)
        assert (w, h) == expected and -(-w // 16) * -(-h // 16) <= 3600
        assert abs(w / h - screen[0] / screen[1]) < 0.01  # aspect kept
    assert video_size(1920, 1200, 1280) == (1280, 800)  # VP8 has no such limit


@pytest.mark.x11
@pytest.mark.slow
async def test_an_h264_phone_on_a_16_10_screen_gets_level_sized_frames_and_accurate_touches(tmp_path: Any) -> None:
    """A real server on a 1920x1200 display and a client that prefers H264 (as some phones' offers do): the
    frames fit H264 level 3.1 (1280x800 would not), and a touch at the frame's centre lands at the screen's."""
    from Xlib import display as xdisplay

    from contop.client import ContopClient
    from contop.core.messages import FAST
    from contop.testing.server import ServerProcess
    from tests.transport.conftest import pair

    session = start_xsession("1920x1200x24", dbus=True)
    server = ServerProcess(tmp_path / "home", env=session.child_env())
    try:
        await asyncio.to_thread(server.start)
        async with ContopClient(pair(server)["url"], device_id="h264-phone", video_codecs=("H264",)) as client:
            frame = await asyncio.wait_for(client.frames.get(), 30)
            assert (frame.width, frame.height) == (1204, 752)
            move = {"type": "manual_control", "id": "mv-1", "payload": {"action": "mouse_move", "x": 602, "y": 376}}
            client.send(move, FAST)
            d = xdisplay.Display(session.display)
            try:
                deadline = time.monotonic() + 10
                while True:
                    p = d.screen().root.query_pointer()
                    if abs(p.root_x - 960) <= 2 and abs(p.root_y - 600) <= 2:
                        break
                    assert time.monotonic() < deadline, (p.root_x, p.root_y)
                    await asyncio.sleep(0.05)
            finally:
                d.close()
    finally:
        await asyncio.to_thread(server.stop)
        session.close()


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.parametrize("watch_damage", [True, False])
async def test_a_keyframe_request_on_a_still_screen_gets_a_frame_at_once(
    xsession: XSession, watch_damage: bool
) -> None:
    """After lost packets the phone asks for a keyframe (PLI). aiortc only flags the next frame to encode; on a
    still screen that frame would be the keep-alive one, pushed 20 s away here. It comes at once instead."""
    _root(xsession, "#204060")
    track = ScreenTrack(
        ScreenCapturer(xsession.display), owns_capturer=True, watch_damage=watch_damage, forced_look=60.0,
        keepalive_fps=0.05,
    )  # fmt: skip
    offerer, answerer, sdp, remote_future = await _negotiate(track)
    try:
        sender = next(t.sender for t in answerer.getTransceivers() if t.sender.track is track)
        track.answered(sdp, sender)  # as the session manager does
        remote = await asyncio.wait_for(remote_future, 20)
        await asyncio.wait_for(remote.recv(), 20)
        await asyncio.sleep(2.5)  # settled: nothing more is sent for 20 s
        sent = track.stats.frames_sent
        sender._send_keyframe()  # what a PLI from the phone triggers
        deadline = time.monotonic() + 5
        while track.stats.frames_sent == sent:
            assert time.monotonic() < deadline, "no frame after the keyframe request"
            await asyncio.sleep(0.02)
    finally:
        await _close(offerer, answerer)
        track.stop()


def _pointer_drawn_at(frame: Any, x: int, y: int, background: tuple[int, int, int]) -> bool:
    """Whether the pixels just below and right of (x, y) (screen pixels; frame at the screen's size) are not
    the background: the pointer's sprite, whose hot spot is at its top-left."""
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    patch = rgb[y + 2 : y + 10, x + 2 : x + 10].reshape(-1, 3)
    return bool((np.abs(patch - np.array(background)).max(axis=1) > 60).sum() >= 8)


@pytest.mark.x11
@pytest.mark.slow
async def test_the_pointer_is_in_the_video_and_its_motion_wakes_a_still_screen(xsession: XSession) -> None:
    """A grab never contains the mouse pointer, so the phone used to see none (in manual control it could not
    tell where a drag was going). It is drawn in now, and moving it on a still screen sends a frame at once,
    although nothing was drawn (the forced look and the keep-alive frame are pushed far out of the way here)."""
    from Xlib import X, display
    from Xlib.ext import xtest

    background = (0x20, 0x80, 0xC0)
    _root(xsession, "#2080c0")
    connection = display.Display(xsession.display)

    def move(x: int, y: int) -> None:
        xtest.fake_input(connection, X.MotionNotify, x=x, y=y)
        connection.sync()

    move(400, 300)
    track = ScreenTrack(
        ScreenCapturer(xsession.display), owns_capturer=True, width=1920, forced_look=60.0, keepalive_fps=0.05
    )
    try:

        async def frame_where(check: Any, timeout: float) -> Any:
            deadline = time.monotonic() + timeout
            while True:
                frame = await asyncio.wait_for(track.recv(), max(0.1, deadline - time.monotonic()))
                if check(frame):
                    return frame
                assert time.monotonic() < deadline, "no frame with the pointer where it is"

        await frame_where(lambda f: _pointer_drawn_at(f, 400, 300, background), 10)
        await asyncio.sleep(2.5)  # settled: a still screen, nothing drawn, nothing sent for 20 s
        sent = track.stats.frames_sent
        move(1200, 700)
        frame = await frame_where(lambda f: _pointer_drawn_at(f, 1200, 700, background), 5)
        assert not _pointer_drawn_at(frame, 400, 300, background)  # and no longer where it was
        assert track.stats.frames_sent > sent
    finally:
        track.stop()
        connection.close()
