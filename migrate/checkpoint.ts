import { and, asc, eq, gt, inArray, type SQL, sql } from "drizzle-orm";
import type { Queryable } from "../db/connect";
import { type MigrationFile, type MigrationStage, migrationFiles } from "../db/schema";

/**
 * The checkpoint table (migration_files) as the run uses it: register the files a batch of the
 * walk found, read their stages, and move them on in bulk. Every write is one statement per batch.
 */

export type Checkpoint = Pick<MigrationFile, "sourcePath" | "stage" | "imageId" | "sha256" | "duplicate" | "error" | "attempts">;

/** Records `paths` as pending unless already known, and returns every one's checkpoint. */
export async function registerFiles(db: Queryable, paths: string[]): Promise<Map<string, Checkpoint>> {
  if (paths.length === 0) return new Map();
  await db
    .insert(migrationFiles)
    .values(paths.map((sourcePath) => ({ sourcePath })))
    .onConflictDoNothing();
  return readCheckpoints(db, paths);
}

/** The checkpoints of `paths` that exist. */
export async function readCheckpoints(db: Queryable, paths: string[]): Promise<Map<string, Checkpoint>> {
  if (paths.length === 0) return new Map();
  const rows = await db
    .select({
      sourcePath: migrationFiles.sourcePath,
      stage: migrationFiles.stage,
      imageId: migrationFiles.imageId,
      sha256: migrationFiles.sha256,
      duplicate: migrationFiles.duplicate,
      error: migrationFiles.error,
      attempts: migrationFiles.attempts,
    })
    .from(migrationFiles)
    .where(inArray(migrationFiles.sourcePath, paths));
  return new Map(rows.map((row) => [row.sourcePath, row]));
}

export type CheckpointUpdate = {
  sourcePath: string;
  stage: Exclude<MigrationStage, "pending">;
  imageId: string | null;
  sha256: string | null;
  bytes: number | null;
  duplicate: boolean;
  error: string | null;
  /** The file is finished (indexed or failed): counts as one more attempt. */
  finished: boolean;
};

const MAX_ERROR_LENGTH = 1000;

/** Moves files to their new stage in one `update ... from (values ...)`. */
export async function updateCheckpoints(db: Queryable, updates: CheckpointUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const values = sql.join(
    updates.map(
      (u) =>
        sql`(${u.sourcePath}::text, ${u.stage}::text, ${u.imageId}::uuid, ${u.sha256}::text, ${u.bytes}::bigint, ${u.duplicate}::boolean, ${u.error?.slice(0, MAX_ERROR_LENGTH) ?? null}::text, ${u.finished ? 1 : 0}::int)`,
    ),
    sql`, `,
  );
  await db.execute(sql`
    update ${migrationFiles} as m set
      stage = v.stage, image_id = v.image_id, sha256 = v.sha256, bytes = v.bytes, duplicate = v.duplicate,
      error = v.error, attempts = m.attempts + v.finished, updated_at = now()
    from (values ${values}) as v(source_path, stage, image_id, sha256, bytes, duplicate, error, finished)
    where m.source_path = v.source_path`);
}

/** `folder` and everything under it, as a condition on source_path (no LIKE: paths may hold % and _). */
export function underFolder(folder: string): SQL {
  const prefix = folder.endsWith("/") ? folder : `${folder}/`;
  return sql`starts_with(${migrationFiles.sourcePath}, ${prefix})`;
}

/**
 * One page of failed files under `folder`, after `after` in path order (keyset on the
 * (stage, source_path) index), for the report and for --retry-failed.
 */
export async function failedUnder(db: Queryable, folder: string, after: string | null, limit: number): Promise<{ sourcePath: string; error: string | null }[]> {
  return db
    .select({ sourcePath: migrationFiles.sourcePath, error: migrationFiles.error })
    .from(migrationFiles)
    .where(and(eq(migrationFiles.stage, "failed"), underFolder(folder), after === null ? undefined : gt(migrationFiles.sourcePath, after)))
    .orderBy(asc(migrationFiles.sourcePath))
    .limit(limit);
}

/** Every failed path under `folder`, page by page (never all in memory). */
export async function* failedPaths(db: Queryable, folder: string, pageSize = 500): AsyncGenerator<{ sourcePath: string; error: string | null }> {
  let after: string | null = null;
  for (;;) {
    const page = await failedUnder(db, folder, after, pageSize);
    yield* page;
    if (page.length < pageSize) return;
    after = (page.at(-1) as { sourcePath: string }).sourcePath;
  }
}

/** How many files under `folder` are at each stage. */
export async function countByStage(db: Queryable, folder: string): Promise<Partial<Record<MigrationStage, number>>> {
  const rows = await db.select({ stage: migrationFiles.stage, n: sql<number>`count(*)::int` }).from(migrationFiles).where(underFolder(folder)).groupBy(migrationFiles.stage);
  return Object.fromEntries(rows.map((row) => [row.stage, row.n]));
}
