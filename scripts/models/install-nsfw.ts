/**
 * Installs the NSFW classifier (nsfwjs MobileNetV2 as ONNX, 10.5 MB; see models/nsfw-mobilenet-v2/README.md)
 * where the worker looks for it, `.data/models/nsfw-mobilenet-v2/model.onnx`. The weights are not in
 * git: they are copied from NSFW_MODEL_SOURCE, else from the project's shared data
 * (`../shared/data/models/nsfw-mobilenet-v2/model.onnx`), and checked against the sha256 the code
 * was built for. `npm start` runs this; `bun scripts/models/install-nsfw.ts` runs it alone.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { MODEL_SHA256_PREFIX } from "../../gpu-worker/ml/nsfw";

const root = resolve(import.meta.dirname, "../..");
export const INSTALLED_NSFW_MODEL = resolve(root, ".data/models/nsfw-mobilenet-v2/model.onnx");
/** Where the shared data keeps the classifier (tests read it there directly). */
export const SHARED_NSFW_MODEL = resolve(root, "../shared/data/models/nsfw-mobilenet-v2/model.onnx");

const matches = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex").startsWith(MODEL_SHA256_PREFIX);

/** The installed model's path, copying it in first when needed; null (with the reason) when no source has it. */
export function installNsfwModel(source = process.env.NSFW_MODEL_SOURCE || SHARED_NSFW_MODEL): { path: string | null; message: string } {
  if (existsSync(INSTALLED_NSFW_MODEL) && matches(INSTALLED_NSFW_MODEL)) return { path: INSTALLED_NSFW_MODEL, message: "NSFW classifier installed" };
  if (!existsSync(source)) return { path: null, message: `no NSFW classifier at ${source}: new images will wait for review (see models/nsfw-mobilenet-v2/README.md)` };
  if (!matches(source)) return { path: null, message: `${source} is not the nsfwjs MobileNetV2 model this code expects (sha256 ${MODEL_SHA256_PREFIX}...)` };
  mkdirSync(dirname(INSTALLED_NSFW_MODEL), { recursive: true });
  copyFileSync(source, INSTALLED_NSFW_MODEL);
  return { path: INSTALLED_NSFW_MODEL, message: `NSFW classifier installed from ${source}` };
}

if (import.meta.main) {
  const { path, message } = installNsfwModel();
  console.log(message);
  process.exit(path ? 0 : 1);
}
