"""A small Tk window that records every click, key and text change it receives, as JSON lines, for input tests.

Run: ``python -m contop.testing.recorder_app LOG.jsonl [--title T] [--geometry 600x400+100+100] [--color #3366cc]``.
The window has a text entry (focused at start), two buttons named "Alpha" and "Beta", and a coloured canvas.
The first line of the log is a ``ready`` event with the absolute boxes of the widgets, so a test knows where to
click; every later line is one event with root (absolute screen) coordinates where they apply.

"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tkinter as tk
from typing import IO, Any


class Recorder:
    def __init__(self, root: tk.Tk, log: IO[str], color: str) -> None:
        self.root = root
        self.log = log
        self.text = tk.StringVar(master=root)
        self.entry = tk.Entry(root, textvariable=self.text, font=("DejaVu Sans", 14))
        self.entry.pack(fill="x", padx=8, pady=8)
        row = tk.Frame(root)
        row.pack(fill="x", padx=8)
        self.buttons = {}
        for name in ("Alpha", "Beta"):
            b = tk.Button(row, text=name, command=self._press_callback(name))
            b.pack(side="left", padx=4)
            self.buttons[name] = b
        self.canvas = tk.Canvas(root, background=color, highlightthickness=0)
        self.canvas.pack(fill="both", expand=True)
        # Select-all on ctrl+a, as in most toolkits (Tk's own binding moves to the line start).
        self.entry.bind("<Control-a>", self.select_all)
        self.text.trace_add("write", lambda *_: self.emit({"event": "text", "value": self.text.get()}))
        root.bind_all("<ButtonPress>", self.on_button, add=True)
        root.bind_all("<ButtonRelease>", self.on_release, add=True)
        root.bind_all("<B1-Motion>", self.on_drag, add=True)
        # Keys are recorded by a tag placed before the widget's own bindings, so "break" cannot hide them.
        for w in (self.entry, self.canvas, *self.buttons.values()):
            w.bindtags(("Recorder", *w.bindtags()))
        root.bind_class("Recorder", "<KeyPress>", self.on_key, add=True)
        root.bind_all("<MouseWheel>", self.on_wheel, add=True)
        root.bind("<Configure>", self.on_configure)

    def _press_callback(self, name: str) -> Any:
        return lambda: self.emit({"event": "pressed", "name": name})

    def select_all(self, _e: Any) -> str:
        self.entry.select_range(0, "end")
        self.entry.icursor("end")
        return "break"

    def emit(self, event: dict[str, Any]) -> None:
        event["t"] = time.time()
        self.log.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.log.flush()

    def _widget(self, w: Any) -> str:
        if w is self.entry:
            return "entry"
        if w is self.canvas:
            return "canvas"
        for name, b in self.buttons.items():
            if w is b:
                return name
        return str(w)

    def box(self, w: tk.Misc) -> list[int]:
        return [w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height()]

    def ready(self) -> None:
        if not self.root.winfo_viewable():
            self.root.after(20, self.ready)
            return
        self.root.update()
        self.entry.focus_force()
        self.root.update()
        self.emit(
            {
                "event": "ready",
                "title": self.root.title(),
                "window": self.box(self.root),
                "entry": self.box(self.entry),
                "canvas": self.box(self.canvas),
                "buttons": {n: self.box(b) for n, b in self.buttons.items()},
                "frame_id": self.root.winfo_id(),
            }
        )

    def on_button(self, e: Any) -> None:
        self.emit(
            {
                "event": "button",
                "num": e.num,
                "state": e.state,
                "x": e.x_root,
                "y": e.y_root,
                "widget": self._widget(e.widget),
            }
        )

    def on_release(self, e: Any) -> None:
        self.emit({"event": "release", "num": e.num, "x": e.x_root, "y": e.y_root, "widget": self._widget(e.widget)})

    def on_drag(self, e: Any) -> None:
        self.emit({"event": "drag", "x": e.x_root, "y": e.y_root})

    def on_wheel(self, e: Any) -> None:
        self.emit({"event": "wheel", "delta": e.delta, "state": e.state, "x": e.x_root, "y": e.y_root})

    def on_key(self, e: Any) -> None:
        self.emit({"event": "key", "keysym": e.keysym, "char": e.char, "state": e.state})

    def on_configure(self, e: Any) -> None:
        if e.widget is self.root:
            self.emit({"event": "configure", "window": self.box(self.root)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log")
    parser.add_argument("--title", default="Contop Recorder")
    parser.add_argument("--geometry", default="600x400+100+100")
    parser.add_argument("--color", default="#3366cc")
    args = parser.parse_args(argv)
    root = tk.Tk(className="ContopRecorder")
    root.title(args.title)
    root.geometry(args.geometry)
    with open(args.log, "a", encoding="utf-8") as log:
        rec = Recorder(root, log, args.color)
        root.after(50, rec.ready)
        root.mainloop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
