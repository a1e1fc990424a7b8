import { decodeRgba, rasteriseSvg } from "../imaging";

/**
 * The visible watermark: the word EDGESTOCK in block letters drawn as SVG rectangles (no fonts
 * needed, so it renders the same on any host), rotated and tiled across the preview, white at low
 * opacity with a faint dark edge so it shows on light and dark areas alike.
 */
const GLYPHS: Record<string, string[]> = {
  E: ["111", "100", "111", "100", "111"],
  D: ["110", "101", "101", "101", "110"],
  G: ["111", "100", "101", "101", "111"],
  S: ["111", "100", "111", "001", "111"],
  T: ["111", "010", "010", "010", "010"],
  O: ["111", "101", "101", "101", "111"],
  C: ["111", "100", "100", "100", "111"],
  K: ["101", "110", "100", "110", "101"],
};

function wordmark(word: string, cell: number): { rects: string; width: number; height: number } {
  const rects: string[] = [];
  [...word].forEach((letter, index) => {
    const rows = GLYPHS[letter] ?? [];
    rows.forEach((row, y) =>
      [...row].forEach((on, x) => {
        if (on === "1") rects.push(`<rect x="${(index * 4 + x) * cell}" y="${y * cell}" width="${cell}" height="${cell}"/>`);
      }),
    );
  });
  return { rects: rects.join(""), width: (word.length * 4 - 1) * cell, height: 5 * cell };
}

const tiles = new Map<number, Promise<Buffer>>();

/** The square PNG tile composited over every preview, at most `maxSize` wide (rendered once per size). */
export function watermarkTile(maxSize = 360): Promise<Buffer> {
  const size = Math.max(16, Math.min(360, Math.floor(maxSize)));
  let tile = tiles.get(size);
  if (!tile) {
    tile = render(size);
    tiles.set(size, tile);
  }
  return tile;
}

function render(size: number): Promise<Buffer> {
  {
    const { rects, width, height } = wordmark("EDGESTOCK", 7);
    const scale = size / 360;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">
      <g transform="translate(${size / 2} ${size / 2}) scale(${scale}) rotate(-30) translate(${-width / 2} ${-height / 2})">
        <g fill="black" fill-opacity="0.18" transform="translate(2 2)">${rects}</g>
        <g fill="white" fill-opacity="0.42">${rects}</g>
      </g></svg>`;
    return rasteriseSvg(svg);
  }
}

const rawTiles = new Map<number, Promise<{ data: Buffer; size: number }>>();

function rawTile(maxSize: number) {
  const size = Math.max(16, Math.min(360, Math.floor(maxSize)));
  let tile = rawTiles.get(size);
  if (!tile) {
    tile = watermarkTile(size).then(async (png) => ({ data: await decodeRgba(png), size }));
    rawTiles.set(size, tile);
  }
  return tile;
}

/**
 * Tiles the watermark over a raw RGB raster ("over" blending), returning a new raster. Done in
 * plain code rather than a sharp composite: the tile is mostly transparent, so skipping its empty
 * pixels makes this a few milliseconds on a 1200 px preview.
 */
export async function applyVisibleWatermark(rgb: Buffer, width: number, height: number): Promise<Buffer> {
  const { data: tile, size } = await rawTile(Math.min(width, height));
  const out = Buffer.from(rgb);
  for (let ty = 0; ty < size; ty++) {
    for (let tx = 0; tx < size; tx++) {
      const t = (ty * size + tx) * 4;
      const alpha = tile[t + 3] as number;
      if (alpha === 0) continue;
      const a = alpha / 255;
      const r = (tile[t] as number) * a;
      const g = (tile[t + 1] as number) * a;
      const b = (tile[t + 2] as number) * a;
      for (let y = ty; y < height; y += size) {
        for (let x = tx; x < width; x += size) {
          const p = (y * width + x) * 3;
          out[p] = Math.round((out[p] as number) * (1 - a) + r);
          out[p + 1] = Math.round((out[p + 1] as number) * (1 - a) + g);
          out[p + 2] = Math.round((out[p + 2] as number) * (1 - a) + b);
        }
      }
    }
  }
  return out;
}
