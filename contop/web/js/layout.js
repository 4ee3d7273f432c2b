// The session screen's layouts and which one each orientation remembers.

export const LAYOUTS = Object.freeze([
  { id: "video", label: "Video focus" },
  { id: "split", label: "Split" },
  { id: "thread", label: "Thread focus" },
  { id: "side", label: "Side by side", landscapeOnly: true },
  { id: "full", label: "Fullscreen video" },
]);

export const DEFAULT_LAYOUT = Object.freeze({ portrait: "split", landscape: "side" });

export function availableLayouts(orientation) {
  return LAYOUTS.filter((l) => orientation === "landscape" || !l.landscapeOnly);
}

export function orientationOf(width, height) {
  return width > height ? "landscape" : "portrait";
}

/** The layout to show for an orientation given the remembered preferences; invalid choices fall back. */
export function layoutFor(prefs, orientation) {
  const wanted = prefs?.[orientation];
  const ok = availableLayouts(orientation).some((l) => l.id === wanted);
  return ok ? wanted : DEFAULT_LAYOUT[orientation];
}

export function rememberLayout(prefs, orientation, layout) {
  if (!availableLayouts(orientation).some((l) => l.id === layout)) return { ...DEFAULT_LAYOUT, ...prefs };
  return { ...DEFAULT_LAYOUT, ...prefs, [orientation]: layout };
}
