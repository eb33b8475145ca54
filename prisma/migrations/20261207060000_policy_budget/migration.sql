-- The org's budget ceilings join its versioned policy (docs/policy.md): every org with its own budget gets a new
-- version, its policy in force plus `budget` (USD), and the table goes: the versions are the one source of truth.
-- An org that never saved a policy starts from the defaults (the fields the schema defaults are left out).
INSERT INTO "PolicyVersion" ("orgId", "number", "document", "kind", "reason", "createdBy")
SELECT b."orgId",
  coalesce(h."number", 0) + 1,
  coalesce(h."document", jsonb_build_object(
      'overrides', '[]'::jsonb,
      'approvalTtlSeconds', jsonb_build_object('t3', 1800, 't4', 900),
      'rateLimits', jsonb_build_object('userMessagesPerMinute', NULL, 'orgMessagesPerHour', NULL, 'toolCallsPerUser', '{}'::jsonb),
      'standing', '[]'::jsonb))
    || jsonb_build_object('budget', jsonb_build_object(
      'dailyUsd', (b."dailyLimitMicros" / 1000000.0)::float8,
      'monthlyUsd', (b."monthlyLimitMicros" / 1000000.0)::float8,
      'hourlyUsd', (b."hourlyLimitMicros" / 1000000.0)::float8)),
  'edit', 'the budget as it was set before budgets joined the versioned policy', b."updatedBy"
FROM "OrgBudget" b
LEFT JOIN LATERAL (SELECT v."number", v."document" FROM "PolicyVersion" v WHERE v."orgId" = b."orgId" ORDER BY v."number" DESC LIMIT 1) h ON true;

DROP TABLE "OrgBudget";
