import test from "node:test";
import assert from "node:assert/strict";
import { extractFingerprints, fingerprintMatches, normalizeFingerprint } from "../../contop/web/js/fingerprint.js";

const FP = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
const OTHER = FP.replace(/^AB/, "00");
const sdp = (...fps) =>
  ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", ...fps.map((f) => `a=fingerprint:sha-256 ${f}`), "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", ""].join("\r\n");

test("extracts sha-256 fingerprints, ignoring other hashes", () => {
  const text = sdp(FP.toLowerCase()) + "a=fingerprint:sha-1 AA:BB\r\n";
  assert.deepEqual(extractFingerprints(text), [FP]);
});

test("matches case-insensitively", () => {
  assert.ok(fingerprintMatches(sdp(FP.toLowerCase()), FP));
  assert.ok(fingerprintMatches(sdp(FP), FP.toLowerCase()));
});

test("every fingerprint in the answer must match", () => {
  assert.ok(fingerprintMatches(sdp(FP, FP), FP));
  assert.ok(!fingerprintMatches(sdp(FP, OTHER), FP));
  assert.ok(!fingerprintMatches(sdp(OTHER), FP));
});

test("no fingerprint or no expectation never matches", () => {
  assert.ok(!fingerprintMatches("v=0\r\n", FP));
  assert.ok(!fingerprintMatches(sdp(FP), ""));
  assert.equal(normalizeFingerprint(" ab:cd "), "AB:CD");
});
