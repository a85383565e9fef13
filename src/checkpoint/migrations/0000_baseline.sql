CREATE TABLE `checkpoints` (
	`id` integer PRIMARY KEY NOT NULL,
	`trigger_time` integer NOT NULL,
	`completed_time` integer NOT NULL,
	`duration_ms` real NOT NULL,
	`alignment_ms` real NOT NULL,
	`rows` integer NOT NULL,
	`bytes` integer NOT NULL,
	`epoch` integer
);
--> statement-breakpoint
CREATE TABLE `counts` (
	`key` text PRIMARY KEY NOT NULL,
	`count` integer NOT NULL,
	`checkpoint_id` integer NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `owner` (
	`id` integer PRIMARY KEY NOT NULL,
	`epoch` integer NOT NULL,
	`pid` integer NOT NULL,
	`host` text NOT NULL,
	`started_at` text NOT NULL,
	CONSTRAINT "owner_one_row" CHECK("owner"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE `positions` (
	`stream` text NOT NULL,
	`subject` text NOT NULL,
	`seq` integer NOT NULL,
	`checkpoint_id` integer NOT NULL,
	`stream_created` text,
	PRIMARY KEY(`stream`, `subject`)
);
--> statement-breakpoint
-- Edited by hand (drizzle-kit keeps edits; see src/checkpoint/schema.ts): `counts` is WITHOUT ROWID
-- above, and this trigger is the ownership fence. A checkpoint row whose epoch is not the owner's
-- aborts its whole transaction; `IS NOT` so that a NULL epoch (a 0.1.0 binary still running on a
-- claimed database) is fenced too. The message is FENCED_MESSAGE in schema.ts (RAISE takes a literal).
CREATE TRIGGER `checkpoints_fence` BEFORE INSERT ON `checkpoints`
  WHEN NEW.`epoch` IS NOT (SELECT `epoch` FROM `owner` WHERE `id` = 1)
  BEGIN SELECT RAISE(ABORT, 'fenced: another pvflow process took over the database'); END;
