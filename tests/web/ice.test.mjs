import test from "node:test";
import assert from "node:assert/strict";
import { iceUrlProblem, iceServerProblem, usableIceServers } from "../../contop/web/js/ice.js";

test("STUN/TURN URLs as WebRTC reads them", () => {
  for (const url of [
    "stun:stun.l.google.com:19302", "stun:10.0.0.1", "stuns:s.example.org", "turn:t.example.org?transport=tcp",
    "turn:t.example.org:443?transport=udp", "turns:[2001:db8::1]:5349",
  ]) assert.equal(iceUrlProblem(url), null, url);
  for (const url of [
    "garbage", "http://example.com", "stun://example.com", "stun:", "stun:example.com:0", "stun:example.com:65536",
    "stun:example.com?transport=udp", "turn:example.com?transport=sctp", "turn:u:p@example.com", "stun:a b", "",
    undefined,
  ]) assert.notEqual(iceUrlProblem(url), null, String(url));
});

test("TURN needs credentials; urls must not be empty", () => {
  assert.equal(iceServerProblem({ urls: "stun:a" }), null);
  assert.equal(iceServerProblem({ urls: ["turn:a"], username: "u", credential: "c" }), null);
  assert.match(iceServerProblem({ urls: "turn:a" }), /username/);
  assert.match(iceServerProblem({ urls: [] }), /empty/);
  assert.notEqual(iceServerProblem({ urls: ["stun:a", "garbage"] }), null);
  assert.notEqual(iceServerProblem("stun:a"), null);
});

test("bad entries are left out and logged without credentials", () => {
  const warnings = [];
  const log = { warn: (m) => warnings.push(m) };
  const good = { urls: ["turn:t.example.org"], username: "u", credential: "p" };
  const got = usableIceServers([{ urls: "garbage" }, { urls: "stun:s" }, { urls: "turn:x", credential: "secret" }, good], log);
  assert.deepEqual(got, [{ urls: "stun:s" }, good]);
  assert.equal(warnings.length, 2);
  assert.ok(!warnings.join(" ").includes("secret"));
  assert.deepEqual(usableIceServers(undefined, log), []);
  assert.deepEqual(usableIceServers("x", log), []);
});
