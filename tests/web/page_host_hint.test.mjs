import test from "node:test";
import assert from "node:assert/strict";
import { pageHostHint } from "../../contop/web/js/pairing.js";

const payload = { h: "192.168.1.20", p: 8000, t: "x", d: "d", ts: "100.64.0.2", s: "https://abc.trycloudflare.com" };

test("a page opened by a name the pairing does not carry says how the desktop can allow it", () => {
  const hint = pageHostHint(payload, "Desk.LAN");
  assert.match(hint, /opened at desk\.lan/);
  assert.match(hint, /--advertise-host desk\.lan/);
});

test("a page at an address, localhost or a host the pairing carries needs no hint", () => {
  for (const host of ["192.168.1.20", "10.0.0.5", "localhost", "[fd00::1]", "abc.trycloudflare.com", ""]) {
    assert.equal(pageHostHint(payload, host), "", host);
  }
  assert.equal(pageHostHint({ ...payload, h: "desk.lan" }, "desk.lan"), "");
});
