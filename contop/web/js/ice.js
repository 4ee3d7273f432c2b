// The STUN/TURN servers from the pairing payload (`i`) that a browser accepts. One bad entry makes
// `new RTCPeerConnection` throw for the whole list, so a phone paired from a bad configuration could never
// connect; such entries are left out (the desktop refuses them since, but a stored pairing may predate that).
// Pure: the same rules as contop.core.settings.parse_ice_url (RFC 7064/7065 as WebRTC reads them).

const ICE_URL = /^(stuns?|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)(?::([0-9]{1,5}))?(?:\?transport=(udp|tcp))?$/;

/** Why `url` is not a STUN/TURN URL, or null when it is. */
export function iceUrlProblem(url) {
  if (typeof url !== "string" || !url) return "an empty URL";
  const m = ICE_URL.exec(url);
  if (!m) return "not a STUN/TURN URL";
  if (m[4] && m[1].startsWith("stun")) return "a STUN URL takes no ?transport";
  if (m[3] !== undefined && !(Number(m[3]) >= 1 && Number(m[3]) <= 65535)) return "the port must be from 1 to 65535";
  return null;
}

/** Why a browser would refuse this RTCIceServer entry, or null. */
export function iceServerProblem(server) {
  if (!server || typeof server !== "object" || Array.isArray(server)) return "not an object";
  const urls = typeof server.urls === "string" ? [server.urls] : server.urls;
  if (!Array.isArray(urls)) return "urls must be a URL or a list of URLs";
  if (urls.length === 0) return "urls is empty";
  let turn = false;
  for (const url of urls) {
    const problem = iceUrlProblem(url);
    if (problem) return problem;
    turn = turn || url.startsWith("turn");
  }
  if (turn && !(server.username && server.credential)) return "a TURN server needs a username and a credential";
  return null;
}

/** The usable entries of the payload's `i` (anything else: none); each one left out is logged, without secrets. */
export function usableIceServers(list, log = console) {
  if (!Array.isArray(list)) return [];
  return list.filter((server, index) => {
    const problem = iceServerProblem(server);
    if (problem) log.warn?.(`contop: ignoring STUN/TURN server ${index}: ${problem}`);
    return !problem;
  });
}
