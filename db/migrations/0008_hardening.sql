CREATE TABLE "search_query_searchers" (
	"query" text NOT NULL,
	"searcher" text NOT NULL,
	"first_seen_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "search_query_searchers_query_searcher_pk" PRIMARY KEY("query","searcher")
);
--> statement-breakpoint
ALTER TABLE "order_items" ADD COLUMN "refused_reason" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "refund_due_cents" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "auto_refund_id" text;--> statement-breakpoint
ALTER TABLE "search_queries" ADD COLUMN "searchers" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "search_queries" ADD COLUMN "blocked" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "search_query_searchers" ADD CONSTRAINT "search_query_searchers_query_search_queries_query_fk" FOREIGN KEY ("query") REFERENCES "public"."search_queries"("query") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- Before one open order per buyer is enforced: older open orders of a buyer are superseded (a payment that still arrives for one is settled, see edge/services/settlement.ts).
UPDATE "orders" o SET "status" = 'canceled', "updated_at" = now() WHERE o."status" = 'pending' AND EXISTS (SELECT 1 FROM "orders" n WHERE n."buyer_id" = o."buyer_id" AND n."status" = 'pending' AND (n."created_at", n."id") > (o."created_at", o."id"));--> statement-breakpoint
CREATE UNIQUE INDEX "orders_one_pending_per_buyer" ON "orders" USING btree ("buyer_id") WHERE status = 'pending';