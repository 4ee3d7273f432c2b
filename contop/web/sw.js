// Offline app shell: the page and its assets only. Network first so an update on the desktop shows at once;
// the cache answers when the desktop is unreachable. Signaling, API and health requests are never touched.

const CACHE = "contop-shell-v2";
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

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (!isShell(url)) return;
  event.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok && res.type === "basic") {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(url.pathname === "/" ? "./" : req, copy));
        }
        return res;
      })
      .catch(() => caches.match(req, { ignoreSearch: true }).then((hit) => hit || caches.match("./"))),
  );
});
