"""Screen capture benchmark: 1920x1080 grab -> 1280-wide JPEG, next to the raw grab alone, on a private Xvfb.

Wall-clock figures depend on how busy the machine is; the CPU time of the capturing thread is printed next to
them, and the raw grab is the baseline measured in the same run. The screen shows a synthetic desktop (text,
gradients, flat panels) so the JPEG encoder does realistic work.
Usage: ``python bench/bench_capture.py [--frames 100] [--quality 80]``. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import cv2
import numpy as np
from Xlib import X
from Xlib import display as xdisplay

from contop.platform.capture import ScreenCapturer, downscale, encode_jpeg
from contop.platform.geometry import ScreenGeometry
from contop.testing.xsession import start_xsession

TARGET_P50_MS = 25.0


def synthetic_desktop(width: int, height: int) -> np.ndarray:
    """A BGRX image that looks roughly like a desktop with windows full of text."""
    rng = np.random.default_rng(7)
    img = np.zeros((height, width, 4), np.uint8)
    ramp = np.linspace(40, 160, width, dtype=np.uint8)
    img[..., 0] = ramp
    img[..., 1] = ramp[::-1]
    img[..., 2] = 90
    for _ in range(6):
        x, y = int(rng.integers(0, width - 700)), int(rng.integers(0, height - 500))
        w, h = int(rng.integers(400, 700)), int(rng.integers(250, 500))
        cv2.rectangle(img, (x, y), (x + w, y + h), (245, 245, 245, 0), -1)
        cv2.rectangle(img, (x, y), (x + w, y + 28), (60, 60, 60, 0), -1)
        for line in range(y + 50, y + h - 10, 22):
            words = " ".join("lorem ipsum dolor sit amet".split()[i % 5] for i in range(int(rng.integers(3, 12))))
            cv2.putText(img, words, (x + 10, line), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20, 0), 1, cv2.LINE_AA)
    return img


def paint_root(display_name: str, image: np.ndarray) -> None:
    d = xdisplay.Display(display_name)
    screen = d.screen()
    win = screen.root.create_window(
        0,
        0,
        image.shape[1],
        image.shape[0],
        0,
        screen.root_depth,
        X.InputOutput,
        X.CopyFromParent,
        override_redirect=True,
    )
    win.map()
    gc = win.create_gc()
    rows_per_request = max(1, (d.display.info.max_request_length * 4 - 64) // (image.shape[1] * 4))
    for y in range(0, image.shape[0], rows_per_request):
        strip = np.ascontiguousarray(image[y : y + rows_per_request])
        win.put_image(gc, 0, y, strip.shape[1], strip.shape[0], X.ZPixmap, 24, 0, strip.tobytes())
    d.sync()
    # Keep the connection open: closing it would destroy the window.
    paint_root.keep = d  # type: ignore[attr-defined]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--quality", type=int, default=80)
    args = parser.parse_args()
    session = start_xsession("1920x1080x24", window_manager=False, dbus=False)
    try:
        paint_root(session.display, synthetic_desktop(1920, 1080))
        cap = ScreenCapturer(session.display, quality=args.quality)
        for _ in range(5):
            cap.capture()  # warm-up: connections, SHM segment, encoder tables
        grab, resize, encode, total, cpu, sizes = [], [], [], [], [], []
        for _ in range(args.frames):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            image, rect = cap.grab()
            t1 = time.perf_counter()
            geo = ScreenGeometry.for_monitor(rect, cap.max_width)
            small = downscale(image, geo.shot_width, geo.shot_height)
            t2 = time.perf_counter()
            jpeg = encode_jpeg(small, args.quality)
            t3 = time.perf_counter()
            cpu.append((time.thread_time() - c0) * 1000)
            grab.append((t1 - t0) * 1000)
            resize.append((t2 - t1) * 1000)
            encode.append((t3 - t2) * 1000)
            total.append((t3 - t0) * 1000)
            sizes.append(len(jpeg))
        # The public one-call path, to make sure it costs the same as the parts.
        frame_ms = [cap.capture().total_ms for _ in range(args.frames // 2)]
        cap.close()
    finally:
        session.close()

    rows = [
        ("raw grab (mss, 1920x1080 BGRA)", grab),
        ("resize INTER_AREA -> 1280x720", resize),
        ("JPEG encode (simplejpeg)", encode),
        ("grab + resize + encode", total),
        ("ScreenCapturer.capture()", frame_ms),
        ("grab + resize + encode, CPU time", cpu),
    ]
    print(f"{'stage':<34}{'p50 ms':>9}{'p90 ms':>9}")
    for name, values in rows:
        print(f"{name:<34}{pct(values, 0.5):>9.2f}{pct(values, 0.9):>9.2f}")
    p50 = pct(total, 0.5)
    print(f"JPEG size p50: {statistics.median(sizes) / 1024:.0f} KiB at quality {args.quality}")
    print(f"target p50 <= {TARGET_P50_MS} ms: {'met' if p50 <= TARGET_P50_MS else 'NOT met'}")
    result = {
        "bench": "capture",
        "frames": args.frames,
        "quality": args.quality,
        "grab_p50_ms": round(pct(grab, 0.5), 2),
        "grab_p90_ms": round(pct(grab, 0.9), 2),
        "resize_p50_ms": round(pct(resize, 0.5), 2),
        "encode_p50_ms": round(pct(encode, 0.5), 2),
        "capture_p50_ms": round(p50, 2),
        "capture_p90_ms": round(pct(total, 0.9), 2),
        "capture_call_p50_ms": round(pct(frame_ms, 0.5), 2),
        "capture_cpu_p50_ms": round(pct(cpu, 0.5), 2),
        "ratio_capture_to_grab": round(p50 / max(pct(grab, 0.5), 1e-6), 2),
        "jpeg_kib_p50": round(statistics.median(sizes) / 1024, 1),
        "target_p50_ms": TARGET_P50_MS,
        "target_met": p50 <= TARGET_P50_MS,
        "nproc": len(os.sched_getaffinity(0)),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
