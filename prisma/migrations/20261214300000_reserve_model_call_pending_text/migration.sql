-- The first model call of a turn booked while its message is admitted (activities/guards.ts makeBookFirstCall, run
-- at the same time as the message limits): the message is not stored yet then, so its text is passed in
-- (p_pending_text) and sized exactly as its stored row would be (a 'user_text' row: p_per_message plus the jsonb text
-- of [{"type": "text", "text": ...}], the value activities/record-user-message.ts stores). NULL (the default, and
-- every call but that one) sizes from the stored rows alone, as before. Otherwise the same function as
-- 20261212090000_reserve_model_call_flat: same checks, same answers. The old signature goes (a call with the old
-- twenty arguments still resolves to this one through the default).
DROP FUNCTION gatehouse_reserve_model_call(text, uuid, uuid, text, text, text, jsonb, text[], bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, bigint, bigint, bigint);

CREATE FUNCTION gatehouse_reserve_model_call(
  p_id text, p_org uuid, p_session uuid, p_workflow text, p_turn text,
  p_results_id text, p_tool_results jsonb, p_kinds text[],
  p_fixed_bytes bigint, p_per_message bigint, p_per_tool_use bigint, p_per_upstream_tool bigint,
  p_input_price bigint, p_output_micros bigint,
  p_model text, p_day text, p_month text,
  p_default_daily bigint, p_default_monthly bigint, p_default_hourly bigint,
  p_pending_text text DEFAULT NULL)
RETURNS TABLE (
  outcome text,            -- 'session' (not the caller's session) | 'reserved' | 'existing' | 'day' | 'month'
  amount_micros bigint,
  used_micros bigint,
  limit_micros bigint,
  hourly_micros bigint,
  policy_number integer,
  org_name text)
LANGUAGE plpgsql AS $$
DECLARE
  v_bytes bigint;
  v_amount bigint;
  v_org_name text;
  v_existing bigint;
  v_budget jsonb;
  v_number integer;
  v_daily bigint := p_default_daily;
  v_monthly bigint := p_default_monthly;
  v_hourly bigint := p_default_hourly;
  v_used bigint;
BEGIN
  PERFORM 1 FROM "CopilotSession" s WHERE s."id" = p_session AND s."orgId" = p_org AND s."workflowId" = p_workflow;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'session'::text, 0::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
    RETURN;
  END IF;

  IF jsonb_typeof(p_tool_results) = 'array' AND jsonb_array_length(p_tool_results) > 0 THEN
    INSERT INTO "Message" ("id", "sessionId", "orgId", "turnId", "role", "kind", "content")
    SELECT p_results_id, p_session, p_org, p_turn, 'user', 'tool_results',
           jsonb_agg(CASE WHEN r.x ? 'deniedReason'
                       THEN jsonb_build_object('type', 'tool_result', 'tool_use_id', r.x->'toolUseId', 'content', r.x->'deniedReason', 'is_error', true)
                       ELSE jsonb_build_object('type', 'tool_result', 'tool_use_id', r.x->'toolUseId',
                              'content', coalesce(i."output", i."summary", 'no result was recorded'),
                              'is_error', NOT coalesce(i."status" = 'succeeded', false))
                     END ORDER BY r.n)
      FROM jsonb_array_elements(p_tool_results) WITH ORDINALITY AS r(x, n)
      LEFT JOIN "ToolInvocation" i ON r.x ? 'invocationId' AND i."id" = r.x->>'invocationId' AND i."sessionId" = p_session
    ON CONFLICT ("id") DO NOTHING;
  END IF;

  -- A retry finds its reservation: the amount the first attempt reserved, nothing changed.
  SELECT r."amountMicros" INTO v_existing FROM "BudgetReservation" r WHERE r."id" = p_id;
  IF FOUND THEN
    RETURN QUERY SELECT 'existing'::text, v_existing, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer,
      (SELECT o."name" FROM "Organization" o WHERE o."id" = p_org);
    RETURN;
  END IF;

  SELECT o."name",
         p_fixed_bytes
       + octet_length(to_json(o."name")::text)
       + coalesce((SELECT sum(p_per_upstream_tool
                              + octet_length(to_json(u."name")::text) * 2
                              + octet_length(to_json(t."name")::text)
                              + octet_length(to_json(t."description")::text)
                              -- the schema's keys are sent with "type": "object" added (counted in p_per_upstream_tool);
                              -- a schema that is not an object is sent as {"type": "object"} alone
                              + CASE WHEN jsonb_typeof(t."inputSchema") = 'object' THEN octet_length(t."inputSchema"::text) ELSE 0 END)
                     FROM "McpUpstreamTool" t JOIN "McpUpstream" u ON u."id" = t."upstreamId"
                    WHERE t."orgId" = p_org AND t."status" = 'enabled'), 0)
       + coalesce((SELECT sum(p_per_message
                              + coalesce(octet_length(b.blocks::text), 0)
                              + (SELECT coalesce(sum(p_per_tool_use + coalesce(octet_length((e->'id')::text), 0)), 0)
                                   FROM jsonb_array_elements(CASE WHEN jsonb_typeof(b.blocks) = 'array' THEN b.blocks ELSE '[]'::jsonb END) e
                                  WHERE e->>'type' = 'tool_use'))
                     FROM "Message" m
                     CROSS JOIN LATERAL (SELECT CASE WHEN m."kind" = 'assistant' THEN m."content"->'blocks' ELSE m."content" END AS blocks) b
                    WHERE m."sessionId" = p_session AND m."kind" = ANY(p_kinds)), 0)
       -- the turn's message, admitted but not stored yet: as its row will be
       + CASE WHEN p_pending_text IS NULL THEN 0
              ELSE p_per_message + octet_length(jsonb_build_array(jsonb_build_object('type', 'text', 'text', p_pending_text))::text) END
    INTO v_org_name, v_bytes
    FROM "Organization" o WHERE o."id" = p_org;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organization not found';
  END IF;
  v_amount := ceil(v_bytes::numeric * p_input_price / 1000000)::bigint + p_output_micros;

  -- The ceilings: the org's policy in force (its highest version's `budget`, USD), or the defaults when it has none.
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

  -- The day, then the month: each claimed only if it stays within its limit, checked after the row's lock.
  UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + v_amount
    WHERE "orgId" = p_org AND "period" = p_day AND "spentMicros" + "reservedMicros" + v_amount <= v_daily;
  IF NOT FOUND THEN
    INSERT INTO "SpendCounter" ("orgId", "period") VALUES (p_org, p_day), (p_org, p_month) ON CONFLICT DO NOTHING;
    UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + v_amount
      WHERE "orgId" = p_org AND "period" = p_day AND "spentMicros" + "reservedMicros" + v_amount <= v_daily;
    IF NOT FOUND THEN
      SELECT c."spentMicros" + c."reservedMicros" INTO v_used FROM "SpendCounter" c WHERE c."orgId" = p_org AND c."period" = p_day;
      RETURN QUERY SELECT 'day'::text, v_amount, v_used, v_daily, NULL::bigint, v_number, v_org_name;
      RETURN;
    END IF;
  END IF;
  UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + v_amount
    WHERE "orgId" = p_org AND "period" = p_month AND "spentMicros" + "reservedMicros" + v_amount <= v_monthly;
  IF NOT FOUND THEN
    INSERT INTO "SpendCounter" ("orgId", "period") VALUES (p_org, p_month) ON CONFLICT DO NOTHING;
    UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + v_amount
      WHERE "orgId" = p_org AND "period" = p_month AND "spentMicros" + "reservedMicros" + v_amount <= v_monthly;
    IF NOT FOUND THEN
      UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" - v_amount WHERE "orgId" = p_org AND "period" = p_day;
      SELECT c."spentMicros" + c."reservedMicros" INTO v_used FROM "SpendCounter" c WHERE c."orgId" = p_org AND c."period" = p_month;
      RETURN QUERY SELECT 'month'::text, v_amount, v_used, v_monthly, NULL::bigint, v_number, v_org_name;
      RETURN;
    END IF;
  END IF;

  INSERT INTO "BudgetReservation" ("id", "orgId", "sessionId", "model", "amountMicros", "status", "day", "month")
  VALUES (p_id, p_org, p_session, p_model, v_amount, 'reserved', p_day, p_month)
  ON CONFLICT ("id") DO NOTHING;
  IF NOT FOUND THEN
    -- The same key reserved by a concurrent attempt since the check above: its reservation stands, ours goes back.
    UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" - v_amount WHERE "orgId" = p_org AND "period" IN (p_day, p_month);
    RETURN QUERY SELECT 'existing'::text, r."amountMicros", NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, v_org_name
      FROM "BudgetReservation" r WHERE r."id" = p_id;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'reserved'::text, v_amount, NULL::bigint, NULL::bigint, v_hourly, v_number, v_org_name;
END
$$;
