CREATE TABLE "payment_reversals" (
	"stripe_payment_intent_id" text NOT NULL,
	"kind" text NOT NULL,
	"stripe_charge_id" text,
	"stripe_object_id" text,
	"amount_cents" integer NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_reversals_stripe_payment_intent_id_kind_pk" PRIMARY KEY("stripe_payment_intent_id","kind"),
	CONSTRAINT "payment_reversals_kind_check" CHECK (kind in ('refund', 'dispute'))
);
--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "taken_down_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "payouts" ADD COLUMN "failure_reason" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "stripe_event_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "payouts_enabled" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "connect_event_at" timestamp (3) with time zone;