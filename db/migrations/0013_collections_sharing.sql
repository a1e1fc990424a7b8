-- Collections (issue 23): boards are private to their owner; a share link is a random token that shows
-- one read-only (revoked by clearing it), replacing the never-used is_public flag; items keep the
-- owner's order.
ALTER TABLE "collection_items" ADD COLUMN "position" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "collections" ADD COLUMN "share_token" text;--> statement-breakpoint
CREATE INDEX "collection_items_order_idx" ON "collection_items" USING btree ("collection_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "collections_share_token_idx" ON "collections" USING btree ("share_token");--> statement-breakpoint
ALTER TABLE "collections" DROP COLUMN "is_public";