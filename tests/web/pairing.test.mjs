import test from "node:test";
import assert from "node:assert/strict";
import {
  base64UrlEncode,
  base64UrlDecode,
  fragmentValue,
  parsePayload,
  PairingError,
  signalingUrls,
  isExpired,
  codeRefused,
} from "../../contop/web/js/pairing.js";

const FP = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
const base = { v: 1, t: "tok_en-1", d: FP, h: "192.168.1.20", p: 8000, e: "2030-01-01T00:00:00Z", c: "permanent" };
const enc = (obj) => base64UrlEncode(JSON.stringify(obj));

test("base64url round-trips unicode without padding", () => {
  const s = JSON.stringify({ name: "Bureau — café ☕" });
  const e = base64UrlEncode(s);
  assert.ok(!e.includes("=") && !e.includes("+") && !e.includes("/"));
  assert.equal(base64UrlDecode(e), s);
});

test("fragmentValue finds p= in the hash", () => {
  assert.equal(fragmentValue("#p=abc"), "abc");
  assert.equal(fragmentValue("#x=1&p=abc"), "abc");
  assert.equal(fragmentValue("#p="), null);
  assert.equal(fragmentValue(""), null);
  assert.equal(fragmentValue("#other"), null);
});

test("parsePayload keeps known keys and drops the rest", () => {
  const p = parsePayload(enc({ ...base, ts: "100.64.0.2", s: "wss://x.example/ws/signaling", api_key: "nope", i: [{ urls: "stun:s" }] }));
  assert.equal(p.t, "tok_en-1");
  assert.equal(p.p, 8000);
  assert.equal(p.ts, "100.64.0.2");
  assert.deepEqual(p.i, [{ urls: "stun:s" }]);
  assert.equal(p.api_key, undefined);
});

test("parsePayload refuses broken, incomplete and future payloads", () => {
  assert.throws(() => parsePayload("!!!"), PairingError);
  assert.throws(() => parsePayload(base64UrlEncode("not json")), PairingError);
  assert.throws(() => parsePayload(enc([1, 2])), PairingError);
  const { d: _d, ...noFp } = base;
  assert.throws(() => parsePayload(enc(noFp)), /missing d/);
  assert.throws(() => parsePayload(enc({ ...base, v: 2 })), /newer/);
  assert.throws(() => parsePayload(enc({ ...base, p: 70000 })), /port/);
});

test("connection type defaults to permanent unless temp", () => {
  assert.equal(parsePayload(enc({ ...base, c: "temp" })).c, "temp");
  assert.equal(parsePayload(enc({ ...base, c: "weird" })).c, "permanent");
});

test("signalingUrls: origin first, then h, ts, s; deduplicated; token encoded", () => {
  const p = { ...base, t: "a+b/c", ts: "100.64.0.2", s: "https://tunnel.example.com" };
  const urls = signalingUrls(p, "http://192.168.1.20:8000");
  assert.deepEqual(urls, [
    "ws://192.168.1.20:8000/ws/signaling?token=a%2Bb%2Fc",
    "ws://100.64.0.2:8000/ws/signaling?token=a%2Bb%2Fc",
    "wss://tunnel.example.com/ws/signaling?token=a%2Bb%2Fc",
  ]);
});

test("signalingUrls: an https origin gives wss first; IPv6 hosts are bracketed", () => {
  const urls = signalingUrls({ ...base, h: "fe80::1" }, "https://abc.trycloudflare.com");
  assert.equal(urls[0], "wss://abc.trycloudflare.com/ws/signaling?token=tok_en-1");
  assert.equal(urls[1], "ws://[fe80::1]:8000/ws/signaling?token=tok_en-1");
});

test("signalingUrls keeps an explicit path in s and ignores junk", () => {
  const urls = signalingUrls({ ...base, s: "wss://t.example/custom/sig" }, "file://x");
  assert.deepEqual(urls, ["ws://192.168.1.20:8000/ws/signaling?token=tok_en-1", "wss://t.example/custom/sig?token=tok_en-1"]);
  assert.equal(signalingUrls({ ...base, s: "ftp://bad" }, null).length, 1);
});

test("isExpired compares the ISO expiry with now", () => {
  assert.equal(isExpired(base, Date.parse("2029-12-31T00:00:00Z")), false);
  assert.equal(isExpired(base, Date.parse("2030-01-02T00:00:00Z")), true);
  assert.equal(isExpired({ ...base, e: "garbage" }), false);
});

test("a refused code (revoked, expired, unknown, claimed) is told apart from a failed connection", () => {
  assert.ok(codeRefused({ code: 4001 }) && codeRefused({ code: 4003 }));
  for (const info of [{ code: 4002 }, { code: 4029 }, { code: 1006 }, { code: null }, {}, null, undefined]) assert.ok(!codeRefused(info), JSON.stringify(info));
});
