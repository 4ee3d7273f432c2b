// Test-only: replaces the app's WebRTC transport with a scripted one (injected by Playwright before the app
// loads). window.__fake lets the test replay server messages and read what the phone sent.
(() => {
  const fake = {
    sent: [],
    instances: 0,
    connects: 0,
    closes: 0,
    failCode: null, // a close code the next connect() fails with (kept until cleared)
    failKind: null, // "fingerprint"
    refuseTokens: [], // pairing tokens the desktop refuses (close 4001): revoked or expired codes
    hang: false,
    noVideo: false, // the next answers carry no video track
    opts: null, // the newest transport's callbacks
    all: [], // every transport's callbacks, oldest first
    events: [], // "connect:N", "connected:N", "close:N" (N: 1 for the first transport)
    answerKeepalives: true, // as the desktop does; false: a dead link that still takes messages
  };
  window.__fake = fake;
  window.__contopNoServiceWorker = true;

  const id = () => crypto.randomUUID();
  fake.emit = (type, payload, msgId) => {
    const mid = msgId || id();
    fake.opts.onMessage(JSON.stringify({ type, id: mid, payload }));
    return mid;
  };
  fake.raw = (text) => fake.opts.onMessage(text);
  // drop: the link is gone (the app must reconnect); blip: it heals on its own before the first retry.
  fake.drop = () => {
    fake.kill();
    fake.opts.onDrop();
  };
  fake.blip = () => fake.opts.onDrop();
  // The desktop closes the signaling socket of the newest transport with `code` after it connected, then its
  // peer: what transport.js reports for it (onFatal for 4001/4002, otherwise the peer's close is a drop).
  fake.serverClose = async (code) => {
    const opts = fake.opts;
    const errors = await import("/js/errors.js");
    fake.kill();
    if ((code === 4001 || code === 4002) && opts.onFatal) {
      opts.onFatal({ ...errors.describeClose(code), code });
      return;
    }
    opts.onDrop();
  };
  fake.ofType = (type) => fake.sent.filter((m) => m.type === type);
  fake.last = (type) => fake.ofType(type).at(-1) || null;

  function paintDesktop(ctx, w, h, t) {
    const g = ctx.createLinearGradient(0, 0, w, h);
    g.addColorStop(0, "#28406e");
    g.addColorStop(1, "#5d3a6e");
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, w, h);
    // a window
    ctx.fillStyle = "#1e1f24";
    ctx.fillRect(140, 110, 700, 430);
    ctx.fillStyle = "#2c2e35";
    ctx.fillRect(140, 110, 700, 38);
    for (const [i, c] of ["#ff5f57", "#febc2e", "#28c840"].entries()) {
      ctx.fillStyle = c;
      ctx.beginPath();
      ctx.arc(165 + i * 24, 129, 7, 0, 7);
      ctx.fill();
    }
    ctx.fillStyle = "#cfd3dc";
    ctx.font = "18px monospace";
    ctx.fillText("Terminal — ~/projects", 420, 135);
    const lines = ["$ git status", "On branch main", "nothing to commit, working tree clean", "$ ls", "Desktop  Documents  Downloads  projects", "$ _"];
    ctx.font = "20px monospace";
    lines.forEach((l, i) => {
      ctx.fillStyle = l.startsWith("$") ? "#7ee787" : "#d6dae3";
      ctx.fillText(l, 165, 190 + i * 32);
    });
    // a second window
    ctx.fillStyle = "#f4f5f7";
    ctx.fillRect(880, 200, 330, 420);
    ctx.fillStyle = "#dfe3ea";
    ctx.fillRect(880, 200, 330, 36);
    ctx.fillStyle = "#3b4252";
    ctx.font = "bold 18px sans-serif";
    ctx.fillText("Notes", 900, 225);
    ctx.font = "16px sans-serif";
    ["Buy milk", "Call Alex at 5", "Ship the release"].forEach((l, i) => ctx.fillText(`• ${l}`, 900, 275 + i * 30));
    // taskbar with a ticking clock so frames keep coming
    ctx.fillStyle = "rgba(10,12,18,0.85)";
    ctx.fillRect(0, h - 44, w, 44);
    ctx.fillStyle = "#e9edf3";
    ctx.font = "16px sans-serif";
    ctx.fillText(`14:${String(2 + (t % 50)).padStart(2, "0")}`, w - 70, h - 16);
    for (let i = 0; i < 5; i++) {
      ctx.fillStyle = ["#7aa7ff", "#f0b956", "#5ccf98", "#ff6f6f", "#c792ea"][i];
      ctx.fillRect(16 + i * 44, h - 36, 28, 28);
    }
  }

  function desktopStream() {
    const canvas = document.createElement("canvas");
    canvas.width = 1280;
    canvas.height = 800;
    const ctx = canvas.getContext("2d");
    let t = 0;
    paintDesktop(ctx, 1280, 800, t);
    setInterval(() => paintDesktop(ctx, 1280, 800, ++t), 200);
    return canvas.captureStream(10);
  }

  window.__contopTransportFactory = (opts) => {
    fake.instances += 1;
    const n = fake.instances;
    fake.opts = opts;
    fake.all.push(opts);
    let connected = false;
    fake.kill = () => {
      connected = false;
    };
    return {
      async connect() {
        fake.connects += 1;
        fake.events.push(`connect:${n}`);
        opts.onStatus("Reaching 192.168.1.20:8000…");
        await new Promise((r) => setTimeout(r, 60));
        if (fake.hang) await new Promise(() => {});
        const refused = fake.refuseTokens.includes(opts.pairing.t);
        if (fake.failKind === "fingerprint" || fake.failCode !== null || refused) {
          const errors = await import("/js/errors.js");
          const code = refused ? 4001 : fake.failCode;
          const info = fake.failKind === "fingerprint" ? errors.describeFingerprintMismatch() : errors.describeClose(code);
          const err = new Error(info.title);
          err.info = { ...info, code };
          throw err;
        }
        opts.onStatus("Talking to the desktop…");
        connected = true;
        if (!fake.noVideo) opts.onTrack(desktopStream());
        fake.events.push(`connected:${n}`);
      },
      send(type, payload) {
        if (!connected) return null;
        const mid = id();
        const fast = type === "manual_control" && ["mouse_move", "mouse_down", "mouse_up"].includes(payload.action);
        fake.sent.push({ type, id: mid, payload, channel: fast ? "contop-fast" : "contop" });
        // The desktop answers a keepalive with one carrying its id (contop/transport/session.py); a test sets
        // fake.answerKeepalives = false for a link that takes messages but delivers nothing.
        if (type === "keepalive" && !payload.ref_id && fake.answerKeepalives) {
          setTimeout(() => connected && opts.onMessage(JSON.stringify({ type: "keepalive", id: id(), payload: { ref_id: mid } })), 0);
        }
        return mid;
      },
      close() {
        fake.closes += 1;
        fake.events.push(`close:${n}`);
        connected = false;
      },
      get connected() {
        return connected;
      },
    };
  };
})();
