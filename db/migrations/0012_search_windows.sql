-- Browse's windows (edge/services/catalogue/search-sql.ts): listed images newest first, and most popular
-- first then newest. A browse page reads its first offset + limit rows from one of these instead of
-- scoring every listed image. On a large catalogue, build both with CREATE INDEX CONCURRENTLY (the same
-- definitions) before deploying: IF NOT EXISTS then makes this a no-op.
CREATE INDEX IF NOT EXISTS "images_listed_published_idx" ON "images" USING btree ("published_at" DESC NULLS LAST,"id") WHERE status = 'approved' and withdrawn_at is null and taken_down_at is null;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "images_listed_popularity_idx" ON "images" USING btree ((sale_count + 0.1 * download_count) desc,"published_at" DESC NULLS LAST,"id") WHERE status = 'approved' and withdrawn_at is null and taken_down_at is null;
