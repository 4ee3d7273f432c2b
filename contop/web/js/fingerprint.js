// The DTLS fingerprint check: the answer's sha-256 fingerprint must equal the one the QR code carried.

export function normalizeFingerprint(value) {
  return String(value || "").replace(/\s+/g, "").toUpperCase();
}

/** Every sha-256 fingerprint in an SDP (session or media level), normalized. */
export function extractFingerprints(sdp) {
  const out = [];
  for (const line of String(sdp || "").split(/\r?\n/)) {
    const m = /^a=fingerprint:\s*sha-256\s+([0-9A-Fa-f:]+)\s*$/i.exec(line.trim());
    if (m) out.push(normalizeFingerprint(m[1]));
  }
  return out;
}

/** True only when the answer names at least one sha-256 fingerprint and every one equals the expected. */
export function fingerprintMatches(sdp, expected) {
  const want = normalizeFingerprint(expected);
  const found = extractFingerprints(sdp);
  return want.length > 0 && found.length > 0 && found.every((f) => f === want);
}
