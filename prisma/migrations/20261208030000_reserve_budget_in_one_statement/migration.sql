-- A budget reservation in one round trip (lib/budget.ts reserve): the same steps the worker used to run as an
-- interactive transaction of six statements, now one function call, which runs as one statement and so in one
-- transaction. Semantics unchanged:
--   * the idempotency key is claimed first: a retry finds its reservation (returned as 'existing') and changes nothing;
--   * the ceilings are the org's policy in force (its highest PolicyVersion's `budget`, USD), or the defaults passed
--     in when it has none; the caller also checks that this version reads as a policy (the whole document, with the
--     same schema as everywhere else) and denies when it does not, so a budget that is not numbers only has to fail
--     here, never pass;
--   * one conditional update per counter, the day first and then the month (the order close() uses too), each
--     condition checked after its row lock: concurrent reservations queue instead of deadlocking, none passes a limit;
--   * a counter at its limit undoes the whole reservation (the block's changes roll back) and says which, how much
--     was used and the limit.
CREATE FUNCTION gatehouse_reserve_budget(
  p_id text, p_org uuid, p_session uuid, p_model text, p_amount bigint, p_day text, p_month text,
  p_default_daily bigint, p_default_monthly bigint, p_default_hourly bigint)
RETURNS TABLE (
  outcome text,            -- 'reserved' | 'existing' | 'day' | 'month' (the period at its limit)
  amount_micros bigint,    -- reserved (for 'existing': the amount the first attempt reserved)
  used_micros bigint,      -- for 'day' | 'month': spent + reserved on that counter
  limit_micros bigint,     -- for 'day' | 'month': that counter's limit
  hourly_micros bigint,    -- the hourly ceiling in force ('reserved' only)
  policy_number integer,   -- the policy version the ceilings came from (0: none saved, the defaults)
  org_name text)
LANGUAGE plpgsql AS $$
DECLARE
  v_budget jsonb;
  v_number integer := 0;
  v_daily bigint := p_default_daily;
  v_monthly bigint := p_default_monthly;
  v_hourly bigint := p_default_hourly;
  v_kind text;
  v_used bigint;
  v_limit bigint;
  v_org_name text;
BEGIN
  SELECT o."name" INTO v_org_name FROM "Organization" o WHERE o."id" = p_org;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organization not found';
  END IF;
  BEGIN
    INSERT INTO "BudgetReservation" ("id", "orgId", "sessionId", "model", "amountMicros", "status", "day", "month")
    VALUES (p_id, p_org, p_session, p_model, p_amount, 'reserved', p_day, p_month)
    ON CONFLICT ("id") DO NOTHING;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'existing'::text, r."amountMicros", NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, v_org_name
        FROM "BudgetReservation" r WHERE r."id" = p_id;
      RETURN;
    END IF;

    SELECT v."number", v."document"->'budget' INTO v_number, v_budget
      FROM "PolicyVersion" v WHERE v."orgId" = p_org ORDER BY v."number" DESC LIMIT 1;
    v_number := coalesce(v_number, 0);
    IF v_budget IS NOT NULL AND jsonb_typeof(v_budget) <> 'null' THEN
      IF jsonb_typeof(v_budget) <> 'object' OR jsonb_typeof(v_budget->'dailyUsd') IS DISTINCT FROM 'number'
         OR jsonb_typeof(v_budget->'monthlyUsd') IS DISTINCT FROM 'number' OR jsonb_typeof(v_budget->'hourlyUsd') IS DISTINCT FROM 'number' THEN
        RAISE EXCEPTION 'the budget of policy version % of the organization cannot be read', v_number;
      END IF;
      v_daily := round((v_budget->>'dailyUsd')::numeric * 1000000)::bigint;
      v_monthly := round((v_budget->>'monthlyUsd')::numeric * 1000000)::bigint;
      v_hourly := round((v_budget->>'hourlyUsd')::numeric * 1000000)::bigint;
    END IF;

    INSERT INTO "SpendCounter" ("orgId", "period") VALUES (p_org, p_day), (p_org, p_month) ON CONFLICT DO NOTHING;
    UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + p_amount
      WHERE "orgId" = p_org AND "period" = p_day AND "spentMicros" + "reservedMicros" + p_amount <= v_daily;
    IF NOT FOUND THEN
      v_kind := 'day';
      v_limit := v_daily;
      SELECT c."spentMicros" + c."reservedMicros" INTO v_used FROM "SpendCounter" c WHERE c."orgId" = p_org AND c."period" = p_day;
      RAISE EXCEPTION USING ERRCODE = 'GHB01';
    END IF;
    UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + p_amount
      WHERE "orgId" = p_org AND "period" = p_month AND "spentMicros" + "reservedMicros" + p_amount <= v_monthly;
    IF NOT FOUND THEN
      v_kind := 'month';
      v_limit := v_monthly;
      SELECT c."spentMicros" + c."reservedMicros" INTO v_used FROM "SpendCounter" c WHERE c."orgId" = p_org AND c."period" = p_month;
      RAISE EXCEPTION USING ERRCODE = 'GHB01';
    END IF;
  EXCEPTION WHEN SQLSTATE 'GHB01' THEN
    -- At a limit: the reservation row and the counter already claimed are rolled back with the block.
    RETURN QUERY SELECT v_kind, p_amount, v_used, v_limit, NULL::bigint, v_number, v_org_name;
    RETURN;
  END;
  RETURN QUERY SELECT 'reserved'::text, p_amount, NULL::bigint, NULL::bigint, v_hourly, v_number, v_org_name;
END
$$;
