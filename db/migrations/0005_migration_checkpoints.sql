CREATE TABLE "migration_files" (
	"source_path" text PRIMARY KEY NOT NULL,
	"stage" text DEFAULT 'pending' NOT NULL,
	"image_id" uuid,
	"sha256" text,
	"duplicate" boolean DEFAULT false NOT NULL,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"bytes" bigint,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "migration_files_stage_check" CHECK (stage in ('pending', 'processed', 'uploaded', 'indexed', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "migration_manifest" (
	"source_path" text PRIMARY KEY NOT NULL,
	"title" text,
	"description" text,
	"keywords" text[],
	"editorial" boolean,
	"category" text
);
--> statement-breakpoint
CREATE INDEX "migration_files_stage_path_idx" ON "migration_files" USING btree ("stage","source_path");