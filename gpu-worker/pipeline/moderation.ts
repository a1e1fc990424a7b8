/**
 * The moderation rule, for live uploads (gpu-worker/jobs/image-process.ts) and the importer
 * (migrate/run.ts) alike: auto-approve only a unique image the NSFW model scored clean; hold
 * anything doubtful for an admin; refuse a copy of someone else's image.
 */

/** An earlier image with the same content: identical bytes (exact) or a near-identical picture. */
export type Duplicate = { id: string; contributorId: string; kind: "exact" | "near"; distance: number };

export type ModerationDecision = { status: "approved" | "pending_review" | "rejected"; reason: string | null };

/**
 * The status a freshly processed image gets. `nsfw` is null when no classifier ran (the image then
 * waits for review); `threshold` is NSFW_THRESHOLD (common/images.ts, the worker's default).
 *
 * @example moderationDecision(null, contributorId, 0.02, 0.1) // { status: "approved", reason: null }
 */
export function moderationDecision(duplicate: Duplicate | null, contributorId: string, nsfw: number | null, threshold: number): ModerationDecision {
  if (duplicate && duplicate.contributorId !== contributorId) {
    return {
      status: "rejected",
      reason: `duplicate of image ${duplicate.id} (${duplicate.kind === "exact" ? "identical file" : `near-identical, ${duplicate.distance} of 64 hash bits differ`})`,
    };
  }
  const reasons: string[] = [];
  if (duplicate) reasons.push(`looks like a re-upload of your image ${duplicate.id} (${duplicate.kind === "exact" ? "identical file" : "near-identical"})`);
  if (nsfw === null) reasons.push("NSFW score unavailable (no classifier loaded)");
  else if (nsfw >= threshold) reasons.push(`NSFW score ${nsfw.toFixed(3)} is at or above ${threshold}`);
  return reasons.length > 0 ? { status: "pending_review", reason: reasons.join("; ") } : { status: "approved", reason: null };
}
