// The phone's WebRTC transport against fake RTCPeerConnection and WebSocket classes: what it sends, and when.
import { test } from "node:test";
import assert from "node:assert/strict";

const peers = [];
const sent = [];
class FakePeer {
  constructor() {
    this.signalingState = "stable";
    this.iceGatheringState = "complete";
    this.closed = false;
    this.localDescription = null;
    peers.push(this);
  }
  createDataChannel(label) {
    const channel = { label, readyState: "connecting", sent: [] };
    (this.channels ||= []).push(channel);
    return channel;
  }
  addTransceiver() {}
  async createOffer() {
    return { type: "offer", sdp: "v=0\r\n" };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
    this.signalingState = "have-local-offer";
  }
  close() {
    this.closed = true;
    this.signalingState = "closed";
  }
}
class FakeSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.();
    }, 50);
  }
  send(text) {
    sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
}
globalThis.RTCPeerConnection = FakePeer;
globalThis.WebSocket = FakeSocket;
globalThis.MediaStream = class {};
const { createRtcTransport } = await import("../../contop/web/js/transport.js");

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const transport = () =>
  createRtcTransport({
    pairing: { h: "192.168.1.5", p: 8000, t: "tok", d: "AA:BB" },
    origin: null,
    deviceId: "phone-1",
    deviceName: "p",
    onMessage() {},
    log: { warn() {}, info() {} },
  });

test("a transport closed while its socket opens sends no offer and leaves no peer open", async () => {
  peers.length = 0;
  sent.length = 0;
  const t = transport();
  const outcome = t.connect().catch((err) => err);
  await pause(10); // the socket is still opening when the app abandons this attempt (Retry, another desktop)
  t.close();
  const err = await outcome;
  await pause(100);
  assert.equal(err.info.kind, "cancelled");
  assert.equal(sent.filter((m) => m.type === "offer").length, 0); // it would have taken the device's session over
  assert.equal(peers.filter((p) => !p.closed).length, 0);
});

test("an offer made after gathering ended is followed by its end-of-candidates", async () => {
  peers.length = 0;
  sent.length = 0;
  const t = transport();
  t.connect().catch(() => {});
  await pause(100);
  assert.deepEqual(
    sent.map((m) => m.type),
    ["offer", "ice_candidate"],
  );
  assert.equal(sent[1].candidate, null);
  t.close();
});

test("a message bigger than the desktop takes is refused with a sentence, and nothing is sent", async () => {
  peers.length = 0;
  const t = transport();
  t.connect().catch(() => {});
  await pause(100);
  for (const channel of peers[0].channels) {
    channel.readyState = "open";
    channel.send = (text) => channel.sent.push(text);
  }
  const reliable = peers[0].channels.find((c) => c.label === "contop");
  assert.throws(
    () => t.send("user_intent", { text: "x".repeat(300000) }),
    (err) => /too long to send \(29\d KB\).*at most 256 KB/.test(err.tooLarge),
  );
  assert.throws(() => t.send("user_intent", { text: "é".repeat(140000) }), (err) => Boolean(err.tooLarge)); // bytes
  assert.equal(reliable.sent.length, 0);
  assert.ok(t.send("user_intent", { text: "x".repeat(200000) })); // under the limit: sent
  assert.equal(reliable.sent.length, 1);
  peers[0].sctp = { maxMessageSize: 65536 }; // a desktop announcing less is held to it
  assert.throws(() => t.send("user_intent", { text: "x".repeat(70000) }), (err) => /at most 64 KB/.test(err.tooLarge));
  reliable.send = () => {
    throw new Error("InvalidStateError");
  };
  assert.equal(t.send("keepalive", {}), null); // a channel closing meanwhile: not sent, no exception
  t.close();
});
