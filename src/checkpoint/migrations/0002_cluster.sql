ALTER TABLE `positions` ADD `epoch` integer;--> statement-breakpoint
-- Hand-written (drizzle cannot declare triggers): cluster mode's split fence. An instance claims a
-- split by writing its lease epoch (a NATS KV revision, increasing across owners) and every commit
-- writes it again; a write with an older epoch — a zombie instance's late commit, or its claim —
-- aborts its whole transaction. The message is SPLIT_FENCED_MESSAGE in schema.ts.
CREATE TRIGGER `positions_fence` BEFORE UPDATE OF `epoch` ON `positions`
  WHEN NEW.`epoch` < OLD.`epoch`
  BEGIN SELECT RAISE(ABORT, 'fenced: a newer lease owns the split'); END;
