-- Closing a budget reservation (lib/budget.ts close): settled at its real cost, or released (p_actual NULL), in one
-- statement where it was a transaction of five round trips (BEGIN, the row locked, the day's and the month's counters,
-- the row, COMMIT). The same steps in the same order: the reservation's row locked first and only while it is open
-- ('reserved', or 'released' by the sweep: a call that succeeds after the sweep gave its reservation up still spent
-- the money, so it is booked, and only the reservation is not taken back twice); then the day's counter and the
-- month's (the order the reservation functions lock them in); then the row closed. Answers whether it closed the
-- reservation (false: already closed, or a release of one already released). Called by close() and, in the same
-- statement as the reply it pays for, by the model call (activities/call-model.ts recordReply).
CREATE FUNCTION gatehouse_close_reservation(p_id text, p_actual bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  v_unreserve bigint;
  v_spent bigint := coalesce(p_actual, 0);
BEGIN
  SELECT b."orgId", b."amountMicros", b."day", b."month", b."status" INTO r
    FROM "BudgetReservation" b WHERE b."id" = p_id AND b."status" IN ('reserved', 'released') FOR UPDATE;
  IF NOT FOUND THEN RETURN false; END IF;
  IF r."status" = 'released' AND p_actual IS NULL THEN RETURN false; END IF;
  v_unreserve := CASE WHEN r."status" = 'reserved' THEN r."amountMicros" ELSE 0 END;
  UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" - v_unreserve, "spentMicros" = "spentMicros" + v_spent
    WHERE "orgId" = r."orgId" AND "period" = r."day";
  UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" - v_unreserve, "spentMicros" = "spentMicros" + v_spent
    WHERE "orgId" = r."orgId" AND "period" = r."month";
  UPDATE "BudgetReservation"
    SET "status" = CASE WHEN p_actual IS NULL THEN 'released' ELSE 'settled' END, "actualMicros" = p_actual,
        "closedAt" = now() AT TIME ZONE 'UTC'
    WHERE "id" = p_id;
  RETURN true;
END $$;
