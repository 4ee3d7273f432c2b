import test from "node:test";
import assert from "node:assert/strict";
import * as st from "../../contop/web/js/storage.js";

const FP1 = "AA:BB:CC";
const FP2 = "DD:EE:FF";
const pay = (d, h) => ({ v: 1, t: `tok-${h}`, d, h, p: 8000, e: "2030-01-01T00:00:00Z", c: "permanent" });

test("several desktops remembered, keyed by fingerprint, most recent first", () => {
  const s = st.memoryStorage();
  st.savePairing(s, pay(FP1, "one"), 1);
  st.savePairing(s, pay(FP2, "two"), 2);
  st.savePairing(s, { ...pay(FP1.toLowerCase(), "one"), t: "new-token" }, 3);
  const list = st.loadPairings(s);
  assert.deepEqual(list.map((p) => p.h), ["one", "two"]);
  assert.equal(list[0].t, "new-token", "pairing again replaces the token");
  assert.equal(st.currentPairing(s).h, "one");
  st.touchPairing(s, FP2, 10);
  assert.equal(st.currentPairing(s).h, "two");
  assert.equal(st.touchPairing(s, "00:00", 11), null);
});

test("forgetting a desktop removes it and clears the current one", () => {
  const s = st.memoryStorage();
  st.savePairing(s, pay(FP1, "one"), 1);
  st.forgetPairing(s, FP1);
  assert.deepEqual(st.loadPairings(s), []);
  assert.equal(st.currentPairing(s), null);
});

test("corrupt storage reads as empty", () => {
  const s = st.memoryStorage();
  s.setItem("contop.pairings.v1", "nope");
  assert.deepEqual(st.loadPairings(s), []);
  s.setItem("contop.pairings.v1", JSON.stringify({ x: { no: "token" } }));
  assert.deepEqual(st.loadPairings(s), []);
});

test("device id is generated once", () => {
  const s = st.memoryStorage();
  let n = 0;
  const id1 = st.deviceId(s, () => `r${++n}`);
  const id2 = st.deviceId(s, () => `r${++n}`);
  assert.equal(id1, "phone-r1");
  assert.equal(id2, id1);
});

test("device name from the user agent, editable", () => {
  const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
  const pixel = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
  const reduced = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
  assert.equal(st.deviceNameFromUA(iphone), "iPhone · Safari");
  assert.equal(st.deviceNameFromUA(pixel), "Pixel 7 · Chrome");
  assert.equal(st.deviceNameFromUA(reduced), "Android phone · Chrome");
  assert.equal(st.deviceNameFromUA(""), "Phone");
  const s = st.memoryStorage();
  assert.equal(st.deviceName(s, pixel), "Pixel 7 · Chrome");
  st.setDeviceName(s, "  Kitchen phone ");
  assert.equal(st.deviceName(s, pixel), "Kitchen phone");
  st.setDeviceName(s, "");
  assert.equal(st.deviceName(s, pixel), "Pixel 7 · Chrome");
});

test("layout preferences round-trip", () => {
  const s = st.memoryStorage();
  assert.deepEqual(st.loadLayoutPrefs(s), {});
  st.saveLayoutPrefs(s, { portrait: "video" });
  assert.deepEqual(st.loadLayoutPrefs(s), { portrait: "video" });
});

test("a code from a link replaces the stored one for its desktop only when it differs", () => {
  const s = st.memoryStorage();
  const good = st.savePairing(s, pay(FP1, "one"), 1);
  assert.equal(st.pairingReplacedBy(s, pay(FP2, "two")), null, "a new desktop replaces nothing");
  assert.equal(st.pairingReplacedBy(s, pay(FP1.toLowerCase(), "one")), null, "the same code again");
  const old = { ...pay(FP1, "one"), t: "old-token" };
  assert.equal(st.pairingReplacedBy(s, old).t, good.t, "another code for a paired desktop: the stored one is kept");
  assert.equal(st.currentPairing(s).t, good.t);
});

test("a code the desktop refused is marked until it connects or a new code is saved; an old link marks nothing", () => {
  const s = st.memoryStorage();
  st.savePairing(s, pay(FP1, "one"), 1);
  assert.equal(st.setCodeRefused(s, { ...pay(FP1, "one"), t: "old-token" }, true), null, "another code: not this one");
  assert.equal(st.currentPairing(s).refused, undefined);
  assert.equal(st.setCodeRefused(s, pay(FP1.toLowerCase(), "one"), true).refused, true);
  assert.equal(st.loadPairings(s)[0].refused, true);
  assert.equal(st.setCodeRefused(s, pay(FP1, "one"), true), null, "already marked");
  assert.equal(st.setCodeRefused(s, pay(FP1, "one"), false).refused, undefined, "it connected after all");
  st.setCodeRefused(s, pay(FP1, "one"), true);
  const renewed = st.savePairing(s, { ...st.currentPairing(s), t: "new-token" }, 2);
  assert.equal(renewed.refused, undefined, "a new code for that desktop");
  assert.equal(st.currentPairing(s).refused, undefined);
  assert.equal(st.setCodeRefused(s, pay(FP2, "two"), true), null, "an unknown desktop");
});
