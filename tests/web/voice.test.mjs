import test from "node:test";
import assert from "node:assert/strict";
import { voiceSupport, VOICE_HELP } from "../../contop/web/js/ui/voice.js";

function Rec() {}

test("voice needs a secure context and a recognizer", () => {
  assert.deepEqual(voiceSupport({ isSecureContext: false, SpeechRecognition: Rec }), { ok: false, reason: "insecure" });
  assert.deepEqual(voiceSupport({ isSecureContext: true }), { ok: false, reason: "unsupported" });
  assert.equal(voiceSupport({ isSecureContext: true, webkitSpeechRecognition: Rec }).Recognition, Rec);
  assert.equal(voiceSupport({ isSecureContext: true, SpeechRecognition: Rec }).ok, true);
});

test("every refusal has an explanation for the user", () => {
  for (const reason of ["insecure", "unsupported", "denied"]) {
    assert.ok(VOICE_HELP[reason].title && VOICE_HELP[reason].message.length > 40, reason);
  }
  assert.match(VOICE_HELP.insecure.message, /HTTPS/);
});
