// Offline app shell: the page and its assets only. Network first so an update on the desktop shows at once;
// the cache answers when the desktop is unreachable, or does not answer within NETWORK_WAIT_MS. Signaling, API
// and health requests are never touched.

const CACHE = "contop-shell-v2";

// A desktop whose port is open but which never answers (its server hung or stopped, its machine half asleep) must
// not keep the app from opening: after this wait the cached shell answers, and the app says it can't reach the
// desktop, and retries, as when the desktop is down.
const NETWORK_WAIT_MS = 3000;
// Once a wait ran out, the rest of the shell (a dozen modules, loaded a few at a time) comes from the cache at once
// for this long, instead of each waiting in turn. Any answer from the network ends it.
const SLOW_SPELL_MS = 30000;
let slowUntil = 0;
const SHELL = [
  "./",
  "index.html",
  "manifest.webmanifest",
  "css/app.css",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "js/app.js",
  "js/coords.js",
  "js/envelope.js",
  "js/errors.js",
  "js/fingerprint.js",
  "js/history.js",
  "js/ice.js",
  "js/intents.js",
  "js/layout.js",
  "js/markdown.js",
  "js/pairing.js",
  "js/reconnect.js",
  "js/storage.js",
  "js/store.js",
  "js/transport.js",
  "js/ui/dom.js",
  "js/ui/manual.js",
  "js/ui/thread.js",
  "js/ui/voice.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isShell(url) {
  if (url.origin !== self.location.origin) return false;
  if (/^\/(api|ws|health)(\/|$)/.test(url.pathname)) return false;
  return true;
}

/** The cached copy of `req`; a page not cached as such is the app's page (it reads its address itself). */
function cached(req) {
  return caches.match(req, { ignoreSearch: true }).then((hit) => hit || (req.mode === "navigate" ? caches.match("./") : undefined));
}

/** The network's answer, or the cached copy when the network fails or keeps the wait beyond `waitMs`. */
function networkFirst(req, url, waitMs) {
  const network = fetch(req).then((res) => {
    slowUntil = 0;
    if (res.ok && res.type === "basic") {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(url.pathname === "/" ? "./" : req, copy));
    }
    return res;
  });
  return new Promise((resolve, reject) => {
    let done = false;
    const settle = (settleWith, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      settleWith(value);
    };
    const timer = setTimeout(() => {
      cached(req).then((hit) => {
        if (!hit || done) return; // nothing cached: the network's answer, whenever it comes
        slowUntil = Date.now() + SLOW_SPELL_MS;
        settle(resolve, hit);
      });
    }, waitMs);
    network.then(
      (res) => settle(resolve, res),
      (err) => cached(req).then((hit) => (hit ? settle(resolve, hit) : settle(reject, err))),
    );
  });
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (!isShell(url)) return;
  event.respondWith(networkFirst(req, url, Date.now() < slowUntil ? 0 : NETWORK_WAIT_MS));
});
