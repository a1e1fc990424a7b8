import sharp from "sharp";

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
    return sharp(Buffer.from(svg)).png().toBuffer();
  }
}
