DROP INDEX "images_sha256_key";--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "declared_bytes" bigint;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "declared_content_type" text;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "multipart_upload_id" text;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "stage" text DEFAULT 'awaiting_upload' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "uploaded_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "duplicate_of" uuid;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "aspect_ratio" real;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "colour_bucket" text;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "ml_status" text DEFAULT 'pending' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "images_sha256_original_key" ON "images" USING btree ("sha256") WHERE sha256 is not null and duplicate_of is null;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_stage_check" CHECK (stage in ('awaiting_upload', 'queued', 'processing', 'done', 'failed'));--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_ml_status_check" CHECK (ml_status in ('pending', 'done', 'unavailable'));--> statement-breakpoint
-- Images that existed before uploads went through the pipeline are finished.
UPDATE "images" SET "stage" = 'done' WHERE "status" <> 'processing';