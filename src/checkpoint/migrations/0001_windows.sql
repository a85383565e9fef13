CREATE TABLE `window_counts` (
	`key` text NOT NULL,
	`window_start` integer NOT NULL,
	`window_end` integer NOT NULL,
	`count` integer NOT NULL,
	`revision` integer NOT NULL,
	`checkpoint_id` integer NOT NULL,
	PRIMARY KEY(`key`, `window_start`, `revision`)
);
--> statement-breakpoint
CREATE TABLE `window_outbox` (
	`key` text NOT NULL,
	`window_start` integer NOT NULL,
	`window_end` integer NOT NULL,
	`count` integer NOT NULL,
	`revision` integer NOT NULL,
	`checkpoint_id` integer NOT NULL,
	PRIMARY KEY(`key`, `window_start`, `revision`)
);
--> statement-breakpoint
CREATE TABLE `window_state` (
	`key` text NOT NULL,
	`window_start` integer NOT NULL,
	`count` integer NOT NULL,
	`revision` integer NOT NULL,
	`fired` integer NOT NULL,
	PRIMARY KEY(`key`, `window_start`)
);
--> statement-breakpoint
ALTER TABLE `positions` ADD `max_event_time` integer;--> statement-breakpoint
ALTER TABLE `positions` ADD `watermark` integer;--> statement-breakpoint
-- By hand (see schema.ts): a result enters the outbox only when it is new to window_counts, so a
-- result carried again by a later checkpoint (its completion not yet seen) is never published twice;
-- and only while results are published (meta `window_outbox`, set at startup with an output subject).
CREATE TRIGGER `window_counts_outbox` AFTER INSERT ON `window_counts`
WHEN EXISTS (SELECT 1 FROM `meta` WHERE `key` = 'window_outbox') BEGIN
  INSERT INTO `window_outbox` (`key`, `window_start`, `window_end`, `count`, `revision`, `checkpoint_id`)
  VALUES (NEW.`key`, NEW.`window_start`, NEW.`window_end`, NEW.`count`, NEW.`revision`, NEW.`checkpoint_id`);
END;
--> statement-breakpoint
CREATE INDEX `window_counts_start` ON `window_counts` (`window_start`);
