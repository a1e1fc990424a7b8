/**
 * The colour facet's named buckets and the rule that names a colour, shared by the GPU worker (it
 * files each image's dominant colours) and the edge (a search for `#rrggbb` looks in that colour's
 * bucket). Pure: no runtime-specific imports. OKLab after Björn Ottosson,
 * https://bottosson.github.io/posts/oklab/.
 */

/** Facet values, in display order. */
export const COLOUR_BUCKETS = ["red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "black", "white", "gray"] as const;

export type ColourBucket = (typeof COLOUR_BUCKETS)[number];

export interface Oklab {
  /** Lightness, 0 (black) to 1 (white). */
  L: number;
  a: number;
  b: number;
}

/** sRGB byte → linear light, once. */
export const SRGB_TO_LINEAR = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  const c = i / 255;
  SRGB_TO_LINEAR[i] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** Writes the OKLab coordinates of a linear-light RGB triple to out[at..at+2]. */
export function writeOklab(lr: number, lg: number, lb: number, out: Float64Array, at: number): void {
  const l = Math.cbrt(0.4122214708 * lr + 0.5363325363 * lg + 0.0514459929 * lb);
  const m = Math.cbrt(0.2119034982 * lr + 0.6806995451 * lg + 0.1073969566 * lb);
  const s = Math.cbrt(0.0883024619 * lr + 0.2817188376 * lg + 0.6299787005 * lb);
  out[at] = 0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s;
  out[at + 1] = 1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s;
  out[at + 2] = 0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s;
}

const HEX_PATTERN = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i;

function parseHex(hex: string): number {
  const match = HEX_PATTERN.exec(hex.trim());
  if (match === null) throw new TypeError(`not a #rrggbb colour: ${JSON.stringify(hex)}`);
  const digits = match[1]!;
  const full = digits.length === 3 ? digits.replace(/./g, (d) => d + d) : digits;
  return Number.parseInt(full, 16);
}

/**
 * OKLab coordinates of an sRGB hex colour (`#rrggbb`, `rrggbb` or `#rgb`), for perceptual
 * nearest-colour search: Euclidean distance in OKLab approximates perceived difference.
 *
 * @example
 * hexToOklab("#ff0000"); // { L: 0.628, a: 0.225, b: 0.126 } (rounded)
 */
export function hexToOklab(hex: string): Oklab {
  const rgb = parseHex(hex);
  const out = new Float64Array(3);
  writeOklab(SRGB_TO_LINEAR[rgb >> 16]!, SRGB_TO_LINEAR[(rgb >> 8) & 0xff]!, SRGB_TO_LINEAR[rgb & 0xff]!, out, 0);
  return { L: out[0]!, a: out[1]!, b: out[2]! };
}

/**
 * Facet bucket of a colour. Rules on OKLab lightness L, chroma C = √(a²+b²) and hue h = atan2(b, a)
 * in degrees, first match wins:
 * 1. black: L < 0.18, or L < 0.25 with C < 0.08 (very dark, whatever the tint; navy at L 0.27 stays blue);
 * 2. white: L > 0.92 with C < 0.04, or L > 0.97 with C < 0.08 (off-whites, beige, lavender blush);
 * 3. gray: C < 0.035 (no usable hue);
 * 4. by hue band: red [345°, 40°), orange [40°, 75°), yellow [75°, 115°), green [115°, 170°),
 *    teal [170°, 215°), blue [215°, 290°), purple [290°, 345°), then adjusted:
 *    - red → pink when light: L ≥ 0.6 on the magenta side (h ≥ 345°), L ≥ 0.72 otherwise
 *      (#ff0000 has L 0.63 and stays red; salmon, hot pink, #ffc0cb become pink);
 *    - purple → pink when L ≥ 0.7 and h ≥ 315° (magenta, plum); violet and indigo stay purple;
 *    - red → brown when dark and muted (L < 0.55, C < 0.1);
 *    - orange → brown when L < 0.66 (saddle brown, sienna, chocolate, coffee);
 *    - yellow → brown when L < 0.66 and h < 100° (dark ochre), → green when L < 0.66 and h ≥ 100° (olive);
 *    - orange or yellow → brown when muted but not pale (C < 0.08, L < 0.85: tan, khaki).
 *
 * @example
 * colourBucket("#000080"); // "blue"
 * colourBucket("#8b4513"); // "brown"
 */
export function colourBucket(hex: string): ColourBucket {
  const { L, a, b } = hexToOklab(hex);
  const C = Math.hypot(a, b);
  if (L < 0.18 || (L < 0.25 && C < 0.08)) return "black";
  if ((L > 0.92 && C < 0.04) || (L > 0.97 && C < 0.08)) return "white";
  if (C < 0.035) return "gray";

  let h = (Math.atan2(b, a) * 180) / Math.PI;
  if (h < 0) h += 360;

  if (h >= 345 || h < 40) {
    if (L >= (h >= 345 ? 0.6 : 0.72)) return "pink";
    if (L < 0.55 && C < 0.1) return "brown";
    return "red";
  }
  if (h < 75) return L < 0.66 || (C < 0.08 && L < 0.85) ? "brown" : "orange";
  if (h < 115) {
    if (L < 0.66) return h < 100 ? "brown" : "green";
    return C < 0.08 && L < 0.85 ? "brown" : "yellow";
  }
  if (h < 170) return "green";
  if (h < 215) return "teal";
  if (h < 290) return "blue";
  return L >= 0.7 && h >= 315 ? "pink" : "purple";
}
