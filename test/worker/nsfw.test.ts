import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_NSFW_MODEL_PATH } from "../../gpu-worker/config";
import { loadNsfwModel, MODEL_ID, MODEL_VERSION, type NsfwInput, type NsfwModel, type NsfwScores, resizeBilinearAlignCorners } from "../../gpu-worker/ml/nsfw";

// The weights ship in git; the workers load them from there unless NSFW_MODEL_PATH says otherwise.
const MODEL_PATH = resolve("models/nsfw-mobilenet-v2/model.onnx");
const REFERENCE_JPEG = resolve("models/nsfw-mobilenet-v2/reference-input.jpg");

async function decodeRaw(image: ReturnType<typeof sharp>): Promise<NsfwInput> {
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 && info.channels !== 4) throw new Error(`unexpected ${info.channels} channels`);
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function expectScoresClose(actual: NsfwScores | undefined, expected: NsfwScores | undefined, tolerance: number): void {
  if (actual === undefined || expected === undefined) throw new Error("missing scores");
  for (const key of ["drawing", "hentai", "neutral", "porn", "sexy", "nsfw"] as const) {
    expect(Math.abs(actual[key] - expected[key]), key).toBeLessThanOrEqual(tolerance);
  }
}

describe("resizeBilinearAlignCorners", () => {
  it("maps output corners onto input corners and interpolates between them (3x2 → 5x4, by hand)", () => {
    // Red is 255 at (1,0) and 0 elsewhere; green/blue carry constants to show channels stay apart.
    const src = new Uint8Array(3 * 2 * 3);
    for (let p = 0; p < 6; p++) src.set([0, 51, 102], p * 3);
    src[1 * 3] = 255;

    const out = resizeBilinearAlignCorners(src, 3, 2, 3, 5, 4);

    // align-corners: source x = 0, .5, 1, 1.5, 2 and source y = 0, 1/3, 2/3, 1.
    const expectedRed = [
      [0, 1 / 2, 1, 1 / 2, 0],
      [0, 1 / 3, 2 / 3, 1 / 3, 0],
      [0, 1 / 6, 1 / 3, 1 / 6, 0],
      [0, 0, 0, 0, 0],
    ];
    expect(out).toHaveLength(5 * 4 * 3);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 5; x++) {
        const at = (y * 5 + x) * 3;
        expect(out[at], `red at ${x},${y}`).toBeCloseTo(expectedRed[y]?.[x] ?? Number.NaN, 6);
        expect(out[at + 1], `green at ${x},${y}`).toBeCloseTo(0.2, 6);
        expect(out[at + 2], `blue at ${x},${y}`).toBeCloseTo(0.4, 6);
      }
    }
  });

  it("reproduces an affine ramp exactly, drops alpha, and downsizes as well as upsizes", () => {
    // p(x, y) = a·x + b·y + c per channel; bilinear sampling at (sx, sy) must return p(sx, sy).
    const srcW = 7;
    const srcH = 5;
    const coeffs = [
      [10, 20, 5],
      [30, 3, 0],
      [1, 40, 60],
    ] as const;
    const ramp = (ch: number, x: number, y: number): number => {
      const [a, b, c] = coeffs[ch] ?? [0, 0, 0];
      return a * x + b * y + c;
    };
    const src = new Uint8Array(srcW * srcH * 4);
    for (let y = 0; y < srcH; y++) {
      for (let x = 0; x < srcW; x++) {
        src.set([ramp(0, x, y), ramp(1, x, y), ramp(2, x, y), 17 * x + y], (y * srcW + x) * 4);
      }
    }

    for (const [dstW, dstH] of [
      [4, 3],
      [11, 9],
    ] as const) {
      const out = resizeBilinearAlignCorners(src, srcW, srcH, 4, dstW, dstH);
      expect(out).toHaveLength(dstW * dstH * 3);
      for (let y = 0; y < dstH; y++) {
        for (let x = 0; x < dstW; x++) {
          const sx = (x * (srcW - 1)) / (dstW - 1);
          const sy = (y * (srcH - 1)) / (dstH - 1);
          for (let ch = 0; ch < 3; ch++) {
            expect(out[(y * dstW + x) * 3 + ch]).toBeCloseTo(ramp(ch, sx, sy) / 255, 6);
          }
        }
      }
    }
  });

  it("rejects a buffer whose length does not match width × height × channels", () => {
    expect(() => resizeBilinearAlignCorners(new Uint8Array(17), 3, 2, 3, 5, 4)).toThrow(/3x2x3 = 18 bytes, got 17/);
  });
});

describe("NSFW model", () => {
  let model: NsfwModel;
  let reference: NsfwInput;

  beforeAll(async () => {
    model = await loadNsfwModel(MODEL_PATH, { intraOpNumThreads: 1 });
    reference = await decodeRaw(sharp(REFERENCE_JPEG).removeAlpha());
  });

  afterAll(async () => {
    await model.close();
  });

  it("ships the model file that MODEL_VERSION names, where the workers load it by default", async () => {
    expect(DEFAULT_NSFW_MODEL_PATH).toBe(MODEL_PATH);
    const sha256 = createHash("sha256")
      .update(await readFile(MODEL_PATH))
      .digest("hex");
    expect(MODEL_VERSION).toContain(`sha256:${sha256.slice(0, 12)}`);
    expect(await readFile(resolve("models/nsfw-mobilenet-v2/README.md"), "utf8")).toContain(sha256);
    expect(model.modelId).toBe(MODEL_ID);
    expect(model.version).toBe(MODEL_VERSION);
  });

  it("scores the reference input as the shipped README says (sharp decode, onnxruntime)", async () => {
    expect(reference.channels).toBe(3);
    expect([reference.width, reference.height]).toEqual([953, 382]);

    const [scores] = await model.score([reference]);

    expectScoresClose(scores, { drawing: 0.6853, hentai: 0.0021, neutral: 0.3125, porn: 0, sexy: 0, nsfw: 0.0021 }, 0.01);
    if (scores === undefined) throw new Error("no scores");
    expect(scores.nsfw).toBeCloseTo(scores.porn + scores.hentai + scores.sexy, 7);
    expect(scores.drawing + scores.hentai + scores.neutral + scores.porn + scores.sexy).toBeCloseTo(1, 5);
  });

  it("gives each image in a batch the same scores as scoring it alone, in input order", async () => {
    const flipped = await decodeRaw(sharp(REFERENCE_JPEG).removeAlpha().flip());
    const rgba = await decodeRaw(sharp(REFERENCE_JPEG).ensureAlpha());
    const noise = await decodeRaw(
      sharp({
        create: { width: 300, height: 500, channels: 3, background: "#000", noise: { type: "gaussian", mean: 128, sigma: 40 } },
      }),
    );
    expect(rgba.channels).toBe(4);

    const batch = [reference, flipped, noise, rgba];
    const together = await model.score(batch);
    expect(together).toHaveLength(batch.length);
    for (const [i, image] of batch.entries()) {
      const [alone] = await model.score([image]);
      expectScoresClose(together[i], alone, 1e-5);
    }
    // Alpha is ignored: the RGBA decode scores as the RGB one.
    expectScoresClose(together[3], together[0], 1e-5);
    // The images really differ, so a batch that repeated one image's scores would fail above.
    expect(Math.abs((together[2]?.drawing ?? 0) - (together[0]?.drawing ?? 0))).toBeGreaterThan(0.05);
  });

  it("returns nothing for an empty batch and refuses to score after close", async () => {
    expect(await model.score([])).toEqual([]);
    const closing = await loadNsfwModel(MODEL_PATH);
    await closing.close();
    await expect(closing.score([reference])).rejects.toThrow(/after close/);
  });
});

describe("loadNsfwModel on the wrong file", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nsfw-test-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails with a message naming the file when it is not ONNX at all", async () => {
    await expect(loadNsfwModel(REFERENCE_JPEG)).rejects.toThrow(/Cannot load NSFW model from .*reference-input\.jpg/);
  });

  it("rejects a valid ONNX model with other inputs and outputs, naming what it found", async () => {
    const path = join(dir, "identity.onnx");
    await writeFile(path, identityModel("x", "y", [1, 3]));
    const loading = loadNsfwModel(path);
    await expect(loading).rejects.toThrow(/is not the nsfwjs-mobilenet-v2 model/);
    await expect(loading).rejects.toThrow(/found inputs "x" float32 \[1,3\], outputs "y" float32 \[1,3\]/);
  });

  it("rejects a model with the right names but the wrong shapes", async () => {
    const path = join(dir, "lookalike.onnx");
    await writeFile(path, identityModel("input", "probs", ["batch", 5]));
    await expect(loadNsfwModel(path)).rejects.toThrow(/found inputs "input" float32 \[batch,5\]/);
  });

  it("refuses a model with the right contract but other bytes than MODEL_VERSION names", async () => {
    // The shipped model with a doc_string (ModelProto field 6) appended: still valid ONNX with the same
    // graph, but another sha256, as another export or a retrained model would be.
    const path = join(dir, "retrained.onnx");
    await writeFile(path, concat(await readFile(MODEL_PATH), stringField(6, "retrained")));
    await expect(loadNsfwModel(path)).rejects.toThrow(
      /retrained\.onnx has the nsfwjs-mobilenet-v2 inputs and outputs but other weights \(sha256 [0-9a-f]{12}\.\.\., this code is calibrated for 5ffbc8e2ae1e/,
    );
  });
});

/**
 * A one-node ONNX model (`Identity`, float32) encoded by hand, so the loader's contract check runs on a
 * real, loadable file that is not the NSFW model. Field numbers are from onnx/onnx.proto.
 */
function identityModel(inputName: string, outputName: string, shape: ReadonlyArray<number | string>): Uint8Array {
  const dims = shape.map((d) => message(1, typeof d === "number" ? varintField(1, d) : stringField(2, d)));
  const tensorType = message(1, concat(varintField(1, 1 /* FLOAT */), message(2, concat(...dims))));
  const valueInfo = (field: number, name: string): Uint8Array => message(field, concat(stringField(1, name), message(2, tensorType)));
  const node = message(1, concat(stringField(1, inputName), stringField(2, outputName), stringField(4, "Identity")));
  const graph = message(7, concat(node, stringField(2, "g"), valueInfo(11, inputName), valueInfo(12, outputName)));
  const opset = message(8, concat(stringField(1, ""), varintField(2, 13)));
  return concat(varintField(1, 8 /* ir_version */), graph, opset);
}

function varint(n: number): number[] {
  const bytes: number[] = [];
  let rest = n;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function varintField(field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}

function message(field: number, body: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([...varint((field << 3) | 2), ...varint(body.length)]), body);
}

function stringField(field: number, value: string): Uint8Array {
  return message(field, new TextEncoder().encode(value));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
