// Voice input with the Web Speech API; where the browser can't, the mic button explains why instead.

export function voiceSupport(win = window) {
  const Recognition = win.SpeechRecognition || win.webkitSpeechRecognition;
  if (!win.isSecureContext) return { ok: false, reason: "insecure" };
  if (!Recognition) return { ok: false, reason: "unsupported" };
  return { ok: true, Recognition };
}

export const VOICE_HELP = {
  insecure: {
    title: "Voice needs a secure connection",
    message:
      "Browsers only allow the microphone on HTTPS pages or on localhost. This page was opened over plain HTTP on your network, so voice is off. Start the remote-access tunnel on the desktop and scan its code to get HTTPS, or type instead.",
  },
  unsupported: {
    title: "Voice isn't supported here",
    message: "This browser has no speech recognition. Try Chrome or Safari, or use your keyboard's dictation key.",
  },
  denied: {
    title: "Microphone blocked",
    message: "Allow the microphone for this page in your browser's site settings, then try again.",
  },
};

/** A start/stop controller writing the transcript into onText(interimText, isFinal). */
export function createVoice({ onText, onState, onError }) {
  const support = voiceSupport();
  let rec = null;
  let base = "";
  return {
    support,
    get active() {
      return !!rec;
    },
    start(currentText = "") {
      if (!support.ok || rec) return;
      base = currentText ? `${currentText.trimEnd()} ` : "";
      rec = new support.Recognition();
      rec.lang = navigator.language || "en-US";
      rec.interimResults = true;
      rec.continuous = false;
      rec.onresult = (ev) => {
        let text = "";
        let final = false;
        for (const r of ev.results) {
          text += r[0].transcript;
          final = r.isFinal;
        }
        onText(base + text, final);
      };
      rec.onerror = (ev) => onError?.(ev.error === "not-allowed" || ev.error === "service-not-allowed" ? "denied" : ev.error);
      rec.onend = () => {
        rec = null;
        onState?.(false);
      };
      rec.start();
      onState?.(true);
    },
    stop() {
      rec?.stop();
    },
  };
}
