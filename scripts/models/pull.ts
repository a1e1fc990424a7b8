/**
 * Downloads a CLIP model ahead of time, the way the worker does on its first start (gpu-worker/ml/clip-models.ts):
 * from the Hub repository `immich-app/<name>` (or an `owner/repo`), verified, into `.data/models/clip/<name>`
 * (or `--dir`), then loads it once to prove it works. GPU hosts run it while building their image.
 *
 * Usage: `npm run models:pull [name] [-- --dir <folder>]` (default: CLIP_MODEL, else ViT-B-32__openai).
 * Honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, CLIP_MODEL_REVISION and, without a name, CLIP_MODEL_DIR.
 * Exit status 1 when the model cannot be had, with the reason.
 */
import { parseArgs } from "node:util";
import * as v from "valibot";
import { describeConfigIssues } from "../../common/config";
import { MAX_EMBEDDING_DIMENSIONS } from "../../db/embedding-models";
import { clipModelDirOf, PipelineFields } from "../../gpu-worker/config";
import { loadClipModel } from "../../gpu-worker/ml/clip";
import { CLIP_MODELS, ensureClipModel } from "../../gpu-worker/ml/clip-models";

const Settings = v.object({
  CLIP_MODEL: PipelineFields.CLIP_MODEL,
  CLIP_MODEL_DIR: PipelineFields.CLIP_MODEL_DIR,
  CLIP_MODEL_REVISION: PipelineFields.CLIP_MODEL_REVISION,
  HF_ENDPOINT: PipelineFields.HF_ENDPOINT,
  HF_TOKEN: PipelineFields.HF_TOKEN,
  HF_HUB_OFFLINE: PipelineFields.HF_HUB_OFFLINE,
});

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { dir: { type: "string" }, help: { type: "boolean", default: false } } });
  if (values.help || positionals.length > 1) {
    console.error(`usage: npm run models:pull [name] [-- --dir <folder>]\nnames: ${Object.keys(CLIP_MODELS).join(", ")}, or an owner/repo on the Hub`);
    return values.help ? 0 : 2;
  }
  const [name] = positionals;
  const env = { ...process.env, ...(name !== undefined ? { CLIP_MODEL: name, CLIP_MODEL_DIR: values.dir ?? "" } : values.dir !== undefined ? { CLIP_MODEL_DIR: values.dir } : {}) };
  const parsed = v.safeParse(Settings, env);
  if (!parsed.success) {
    console.error(`models:pull: ${describeConfigIssues(parsed.issues)}`);
    return 2;
  }
  const settings = parsed.output;
  const dir = clipModelDirOf(settings);
  const log = (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) =>
    console.error(`${level === "warn" ? "warning: " : ""}${msg}${extra && Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : ""}`);
  const reason = await ensureClipModel({ ...settings, clipModelDir: dir }, log);
  if (reason !== null) {
    console.error(`models:pull: ${reason.detail}`);
    return 1;
  }
  try {
    const clip = await loadClipModel(dir, { executionProviders: ["cpu"] });
    await clip.close();
    if (clip.embedDim > MAX_EMBEDDING_DIMENSIONS) {
      console.error(
        `models:pull: ${dir} makes ${clip.embedDim}-dimensional embeddings; pgvector's HNSW indexes at most ${MAX_EMBEDDING_DIMENSIONS}, so the worker will not use it`,
      );
      return 1;
    }
    console.log(`${dir}: ${clip.modelId} (${clip.layout} layout, ${clip.embedDim} dimensions, version ${clip.version}) loads`);
    return 0;
  } catch (error) {
    console.error(`models:pull: ${dir} is there but does not load: ${(error as Error).message}`);
    return 1;
  }
}

process.exit(await main());
