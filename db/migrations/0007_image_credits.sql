ALTER TABLE "images" ADD COLUMN "credit" text;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "credit_license" text;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "credit_source" text;--> statement-breakpoint
ALTER TABLE "migration_manifest" ADD COLUMN "credit" text;--> statement-breakpoint
ALTER TABLE "migration_manifest" ADD COLUMN "credit_license" text;--> statement-breakpoint
ALTER TABLE "migration_manifest" ADD COLUMN "credit_source" text;