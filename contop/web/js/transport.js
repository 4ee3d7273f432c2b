// The WebRTC connection to the desktop: signaling over a WebSocket, two data channels and a video track.
// Browser-only; the decisions it makes (endpoints, fingerprint, close codes) live in pure modules.

import { signalingUrls } from "./pairing.js";
import { fingerprintMatches } from "./fingerprint.js";
import { describeClose, describeFingerprintMismatch } from "./errors.js";
import { envelope, isFastAction, tooLargeToSend, MAX_MESSAGE_BYTES } from "./envelope.js";
import { isFatalClose } from "./reconnect.js";
import { usableIceServers } from "./ice.js";

const OPEN_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 20000;

/**
 * opts: {pairing, deviceId, deviceName, deviceLocation?, origin, onStatus(step), onMessage(raw),
 *        onTrack(stream), onDrop(), onFatal(info), log}
 * connect() resolves when the reliable channel is open, or rejects with an error carrying `.info`
 * ({kind, title, message, action, code}) for the user.
 * Once connected, onDrop() reports a lost link (worth reconnecting), onFatal(info) the desktop ending this
 * connection for good on the signaling socket (4002: a newer connection of this device replaced it; 4001: the
 * pairing was revoked): the transport is closed then and reports nothing more.
 */
export function createRtcTransport(opts) {
  let pc = null;
  let ws = null;
  let reliable = null;
  let fast = null;
  let closed = false;
  let connected = false;
  let established = false; // connected at least once: the signaling socket then only matters for a fatal close

  const log = opts.log || console;

  function fail(info) {
    const err = new Error(info.title);
    err.info = info;
    return err;
  }

  function buildPeer() {
    const iceServers = usableIceServers(opts.pairing.i, log);
    try {
      pc = new RTCPeerConnection({ iceServers });
    } catch (err) {
      // A server this browser still refuses must not stop the connection: host candidates suffice on a LAN.
      log.warn?.(`contop: STUN/TURN servers refused (${err}); connecting without them`);
      pc = new RTCPeerConnection({ iceServers: [] });
    }
    reliable = pc.createDataChannel("contop", { ordered: true });
    fast = pc.createDataChannel("contop-fast", { ordered: false, maxRetransmits: 0 });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (ev) => opts.onTrack?.(ev.streams[0] || new MediaStream([ev.track]));
    reliable.onmessage = (ev) => opts.onMessage(ev.data);
    fast.onmessage = (ev) => opts.onMessage(ev.data);
    pc.onicecandidate = (ev) => {
      if (ws && ws.readyState === WebSocket.OPEN) {
        const c = ev.candidate;
        ws.send(JSON.stringify({
          type: "ice_candidate",
          candidate: c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null,
        }));
      }
    };
    const dropped = () => {
      if (connected && !closed) {
        connected = false;
        opts.onDrop?.();
      }
    };
    pc.onconnectionstatechange = () => {
      if (!pc) return;
      const st = pc.connectionState;
      if (st === "failed" || st === "disconnected" || st === "closed") dropped();
      // "disconnected" often heals by itself (a Wi-Fi blip): the app checks `connected` before each retry.
      else if (st === "connected" && reliable?.readyState === "open" && !closed) connected = established = true;
    };
    reliable.onclose = dropped;
  }

  function openSocket(url) {
    return new Promise((resolve, reject) => {
      const sock = new WebSocket(url);
      const timer = setTimeout(() => {
        sock.close();
        reject(new Error("timeout"));
      }, OPEN_TIMEOUT_MS);
      sock.onopen = () => {
        clearTimeout(timer);
        resolve(sock);
      };
      sock.onerror = () => {
        clearTimeout(timer);
        reject(new Error("unreachable"));
      };
    });
  }

  /** Exchange offer/answer on an open socket; resolves when the data channel opens. */
  function negotiate(sock, offer) {
    return new Promise((resolve, reject) => {
      let lastError = null;
      let answered = false;
      const timer = setTimeout(() => reject(fail(describeClose(0, "The desktop did not answer in time"))), CONNECT_TIMEOUT_MS);
      const done = (fn, arg) => {
        clearTimeout(timer);
        fn(arg);
      };
      sock.onmessage = async (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          log.warn("contop: ignoring non-JSON signaling message");
          return;
        }
        if (msg.type === "answer" && typeof msg.sdp === "string") {
          if (!fingerprintMatches(msg.sdp, opts.pairing.d)) {
            sock.close(1000, "fingerprint mismatch");
            done(reject, fail(describeFingerprintMismatch()));
            return;
          }
          answered = true;
          opts.onStatus?.("Securing the connection…");
          try {
            await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
          } catch (err) {
            done(reject, fail({ ...describeClose(0, "The desktop's answer was not usable"), detail: String(err) }));
          }
        } else if (msg.type === "ice_candidate") {
          if (!answered || !msg.candidate) return; // the answer is complete; end-of-candidates needs nothing
          try {
            await pc.addIceCandidate(msg.candidate);
          } catch (err) {
            log.warn("contop: bad ICE candidate", err);
          }
        } else if (msg.type === "error") {
          lastError = msg;
          log.warn("contop: signaling error", msg.code, msg.message);
        } else {
          log.warn("contop: ignoring signaling message", msg.type);
        }
      };
      sock.onclose = (ev) => {
        if (closed) return;
        if (established) {
          // The desktop keeps the socket open while the link is up. Closing it with 4002/4001 ends this
          // connection for good (its peer closes next: that must not count as a drop to reconnect from);
          // any other close (a restart) is left to the peer connection to notice.
          if (sock === ws && isFatalClose(ev.code)) {
            const info = { ...describeClose(ev.code, ev.reason), code: ev.code, serverMessage: ev.reason || "" };
            log.info("contop: the desktop ended this connection:", ev.code, ev.reason);
            ws = null; // closed already
            close();
            opts.onFatal?.(info);
          }
          return;
        }
        if (ev.code === 1000 && answered) return; // server done signaling; media continues
        let info = describeClose(ev.code, ev.reason);
        if (lastError?.code === "not_available" && ev.code !== 1013) info = describeClose(1013);
        info = { ...info, code: ev.code, serverMessage: lastError?.message || ev.reason || "" };
        done(reject, fail(info));
      };
      // Connected once both channels are open: that is when the desktop takes this connection as the device's
      // (and hands a running task over from an older one, which a reconnect closes right after).
      const opened = () => {
        if (reliable.readyState === "open" && fast.readyState === "open") {
          connected = established = true;
          done(resolve);
        }
      };
      reliable.onopen = opened;
      fast.onopen = opened;
      const payload = {
        type: "offer",
        sdp: offer.sdp,
        device_id: opts.deviceId,
        device_name: opts.deviceName,
      };
      if (opts.deviceLocation) payload.device_location = opts.deviceLocation;
      if (opts.pairing.c === "temp") payload.connection_type = "temp";
      sock.send(JSON.stringify(payload));
      // Gathering that ended before this socket opened sent its end-of-candidates nowhere: the desktop needs it to
      // tell a link that cannot come up (its candidates are all in the offer).
      if (pc.iceGatheringState === "complete") sock.send(JSON.stringify({ type: "ice_candidate", candidate: null }));
    });
  }

  /** The offer to send: the current peer's, or a new peer's when an earlier attempt already used it up. */
  async function freshOffer() {
    if (closed) throw cancelled();
    if (pc && pc.signalingState === "have-local-offer") return pc.localDescription;
    try {
      pc?.close(); // it took an answer (the desktop answered, then the link never came up): it cannot offer again
    } catch {
      /* already closed */
    }
    buildPeer();
    await pc.setLocalDescription(await pc.createOffer());
    if (closed) throw cancelled(); // closed while the offer was made: this attempt must not go on
    return pc.localDescription;
  }

  function cancelled() {
    return fail({ kind: "cancelled", title: "Cancelled", message: "", action: null });
  }

  async function connect() {
    closed = false;
    connected = false;
    established = false;
    pc = null;
    opts.onStatus?.("Preparing a secure channel…");
    await freshOffer();
    const urls = signalingUrls(opts.pairing, opts.origin);
    let lastInfo = describeClose(0);
    for (const url of urls) {
      if (closed) throw cancelled();
      opts.onStatus?.(`Reaching ${new URL(url).host}…`);
      try {
        ws = await openSocket(url);
      } catch {
        continue; // next endpoint
      }
      if (closed) {
        teardownSocket(); // closed while the socket opened (the user went elsewhere): no offer from a closed transport
        throw cancelled();
      }
      opts.onStatus?.("Talking to the desktop…");
      try {
        await negotiate(ws, await freshOffer());
        opts.onStatus?.("Connected");
        return;
      } catch (err) {
        if (!err.info) {
          teardown();
          throw err;
        }
        lastInfo = err.info;
        // The desktop answered and refused: another address of the same desktop would too. Anything else
        // (an abnormal close, a timeout) may be this address only, so the next one is tried.
        if (err.info.kind !== "unreachable") break;
        teardownSocket();
      }
    }
    teardown();
    throw fail(lastInfo);
  }

  /**
   * Send one message; its id, or null when no channel is open. A message bigger than the desktop takes throws an
   * Error whose `.tooLarge` is the sentence for the user: nothing was sent.
   */
  function send(type, payload = {}) {
    const env = envelope(type, payload);
    const useFast = isFastAction(type, payload) && fast && fast.readyState === "open";
    const ch = useFast ? fast : reliable;
    if (!ch || ch.readyState !== "open") return null;
    const text = JSON.stringify(env);
    const problem = tooLargeToSend(text, pc?.sctp?.maxMessageSize || MAX_MESSAGE_BYTES);
    if (problem) {
      const err = new Error(problem);
      err.tooLarge = problem;
      throw err;
    }
    try {
      ch.send(text);
    } catch (err) {
      log.warn?.(`contop: a message could not be sent: ${err}`);
      return null; // the channel closed meanwhile: as if it had not been open
    }
    return env.id;
  }

  function teardownSocket() {
    try {
      ws?.close(1000);
    } catch {
      /* already closed */
    }
    ws = null;
  }

  function teardown() {
    try {
      ws?.close(1000);
    } catch {
      /* already closed */
    }
    try {
      pc?.close();
    } catch {
      /* already closed */
    }
    ws = null;
    pc = null;
  }

  function close() {
    closed = true;
    connected = false;
    teardown();
  }

  return { connect, send, close, get connected() { return connected; } };
}
