import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

// The service worker's own script, run in a context holding what a browser gives it: `self`, `caches` and `fetch`.
// The cache is a Map; `fetch` answers as the test says (never, for a desktop whose server hangs).
const SOURCE = readFileSync(new URL("../../contop/web/sw.js", import.meta.url), "utf8");
const ORIGIN = "http://192.168.1.20:8000";

function worker({ network }) {
  const cache = new Map([
    ["./", "cached page"],
    [`${ORIGIN}/js/app.js`, "cached app.js"],
  ]);
  const handlers = {};
  const fetched = [];
  const keyOf = (req) => (req === "./" ? "./" : (typeof req === "string" ? req : req.url).split("?")[0]);
  const context = {
    self: {
      location: { origin: ORIGIN },
      addEventListener: (type, fn) => (handlers[type] = fn),
      skipWaiting: () => Promise.resolve(),
      clients: { claim: () => Promise.resolve() },
    },
    caches: {
      match: async (req) => cache.get(keyOf(req)),
      open: async () => ({ put: async (req, res) => cache.set(keyOf(req), res.body) }),
      keys: async () => [],
    },
    fetch: (req) => {
      fetched.push(req.url);
      return network(req);
    },
    URL,
    Promise,
    setTimeout: (...a) => globalThis.setTimeout(...a),
    clearTimeout: (...a) => globalThis.clearTimeout(...a),
    Date: { now: () => Date.now() },
  };
  vm.runInNewContext(SOURCE, context);
  /** What the worker answers for a GET of `path`; undefined when it leaves the request to the browser. */
  const get = (path, mode = "no-cors") => {
    let answer;
    handlers.fetch({ request: { method: "GET", url: `${ORIGIN}${path}`, mode }, respondWith: (p) => (answer = p) });
    return answer;
  };
  return { get, fetched, cache };
}

/** A promise's outcome once the mocked clock has run for `ms`, or "pending". */
async function after(t, ms, promise) {
  let outcome = "pending";
  promise.then((v) => (outcome = v), (e) => (outcome = `error: ${e.message}`));
  t.mock.timers.tick(ms);
  for (let i = 0; i < 20; i++) await null; // let the cache lookups settle
  return outcome;
}

test("a desktop that never answers does not keep the app from opening: the cache answers after a bounded wait", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const hung = () => new Promise(() => {});
  const sw = worker({ network: hung });
  const page = sw.get("/?x=1", "navigate");
  assert.equal(await after(t, 1000, page), "pending", "the network gets its chance first");
  assert.equal(await after(t, 3000, page), "cached page");
  // The rest of the shell does not wait again, module after module.
  assert.equal(await after(t, 0, sw.get("/js/app.js")), "cached app.js");
  // Something never cached is not answered with the page: it waits for the network.
  assert.equal(await after(t, 5000, sw.get("/js/new-module.js")), "pending");
  // Signaling, API and health requests are never the worker's.
  for (const path of ["/api/pair", "/ws/signaling", "/health"]) assert.equal(sw.get(path), undefined, path);
  assert.ok(!sw.fetched.some((u) => /\/(api|ws|health)\b/.test(u)));
});

test("a desktop that answers is always asked first, and its answer updates the cache", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const sw = worker({ network: async () => ({ ok: true, type: "basic", body: "new page", clone: () => ({ body: "new page" }) }) });
  assert.deepEqual(await after(t, 0, sw.get("/", "navigate")).then((r) => r.body), "new page");
  assert.equal(sw.cache.get("./"), "new page");
});

test("a desktop that is down answers from the cache at once", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const sw = worker({ network: async () => Promise.reject(new TypeError("Failed to fetch")) });
  assert.equal(await after(t, 0, sw.get("/", "navigate")), "cached page");
  assert.equal(await after(t, 0, sw.get("/js/new-module.js")), "error: Failed to fetch");
});
