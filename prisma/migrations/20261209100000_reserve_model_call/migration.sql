-- The guard before a model call in one round trip (lib/budget.ts reserveModelCall, activities/guards.ts
-- reserveBudget): what the worker used to do in four to six (a Prisma read of the session, the previous step's tool
-- results written through Prisma, the model request built from two more reads to size the reservation, then
-- gatehouse_reserve_budget), as one function call, one statement, one transaction:
--   * the session check: the session exists, is in the claimed org and is known under the calling workflow's id
--     (the id the activity's context gives, passed in); otherwise 'session' and nothing is written or reserved;
--   * the previous step's tool results are written as the transcript's tool_results row (once: a retry finds it), as
--     activities/call-model.ts writeToolResults writes them: a denial's reason, else the invocation's output, its
--     summary, or 'no result was recorded' (an invocation of another session is not read), is_error unless it succeeded;
--   * the reservation is sized from the request the model call will send, without building it: an upper bound of its
--     UTF-8 size (every token is at least one byte; activities/token-count.ts). The part that is the same for every
--     session (the system prompt around the org's name, the tool catalog, the JSON around them) is measured once by
--     the worker and passed in (p_fixed_bytes); here are added the org's name, its enabled upstream tools (each with
--     p_per_upstream_tool for the text around it) and the transcript's rows of the kinds sent (p_kinds), each as its
--     jsonb text, which is never shorter than the same value as compact JSON, with p_per_message for the text around
--     a row and p_per_tool_use for each tool_use (the model call answers one left unanswered with a "not run" result);
--   * the worst case of that many prompt tokens at p_input_price (micro-dollars per million tokens, rounded up, as
--     cage/pricing.ts worstCaseCost) plus p_output_micros, reserved by gatehouse_reserve_budget (unchanged: the
--     idempotency key, the policy in force, the day then the month, a counter at its limit rolling back).
CREATE FUNCTION gatehouse_reserve_model_call(
  p_id text, p_org uuid, p_session uuid, p_workflow text, p_turn text,
  p_results_id text, p_tool_results jsonb, p_kinds text[],
  p_fixed_bytes bigint, p_per_message bigint, p_per_tool_use bigint, p_per_upstream_tool bigint,
  p_input_price bigint, p_output_micros bigint,
  p_model text, p_day text, p_month text,
  p_default_daily bigint, p_default_monthly bigint, p_default_hourly bigint)
RETURNS TABLE (
  outcome text,            -- 'session' (not the caller's session) | as gatehouse_reserve_budget
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

  SELECT p_fixed_bytes
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
    INTO v_bytes
    FROM "Organization" o WHERE o."id" = p_org;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organization not found';
  END IF;

  v_amount := ceil(v_bytes::numeric * p_input_price / 1000000)::bigint + p_output_micros;
  RETURN QUERY SELECT * FROM gatehouse_reserve_budget(p_id, p_org, p_session, p_model, v_amount, p_day, p_month,
    p_default_daily, p_default_monthly, p_default_hourly);
END
$$;
