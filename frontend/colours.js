// Label colours: the same golden-ratio hues as cellkiosk.imaging.overlay.label_colours, so the
// portal's overlay matches the overlay PNG in the result archive.

const GOLDEN_RATIO_CONJUGATE = 0.618033988749895;
const SATURATION = 0.85;
const cache = new Map();

/** [r, g, b] (0-255) of a label id. */
export function labelColour(id) {
  let rgb = cache.get(id);
  if (rgb) return rgb;
  const hue = (id * GOLDEN_RATIO_CONJUGATE) % 1;
  const sector = Math.floor(hue * 6) % 6;
  const frac = hue * 6 - Math.floor(hue * 6);
  const low = 1 - SATURATION;
  const falling = 1 - SATURATION * frac;
  const rising = 1 - SATURATION * (1 - frac);
  const orders = [
    [1, rising, low],
    [falling, 1, low],
    [low, 1, rising],
    [low, falling, 1],
    [rising, low, 1],
    [1, low, falling],
  ];
  rgb = orders[sector].map((v) => Math.round(v * 255));
  if (cache.size > 100_000) cache.clear();
  cache.set(id, rgb);
  return rgb;
}
