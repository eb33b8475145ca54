-- The circuit breaker is kept in the database, not only in the workflow's state (which anyone reaching Temporal
-- can forge on a fresh start or a continue-as-new): authorization reads it, a trip sets it, and only an admin's
-- verified reset clears it. Sessions whose latest breaker event is a trip start out tripped.
ALTER TABLE "CopilotSession" ADD COLUMN "breakerTrippedAt" TIMESTAMP(3);

UPDATE "CopilotSession" s
SET "breakerTrippedAt" = e."createdAt"
FROM (
  SELECT DISTINCT ON ("sessionId") "sessionId", "action", "createdAt"
  FROM "AuditEvent"
  WHERE "action" IN ('breaker.tripped', 'breaker.reset') AND "sessionId" IS NOT NULL
  ORDER BY "sessionId", "id" DESC
) e
WHERE e."sessionId" = s."id" AND e."action" = 'breaker.tripped';

-- The database counts a session's rejections in a row too (activities/breaker.ts), from its approvals.
CREATE INDEX "Approval_sessionId_createdAt_idx" ON "Approval"("sessionId", "createdAt");

-- The sites each tool call reached: a user sees a session's content only with a role whose sites cover all of
-- them. Calls recorded before this column: a call that sent device commands reached its devices' sites; any
-- other call that was not denied may have read anywhere in the org, so it counts as reaching every site (those
-- sessions stay visible to their owner and to users bound to the whole organization).
ALTER TABLE "ToolInvocation" ADD COLUMN "siteIds" UUID[] DEFAULT ARRAY[]::UUID[];

UPDATE "ToolInvocation" t
SET "siteIds" = COALESCE((SELECT array_agg(s."id") FROM "Site" s WHERE s."orgId" = t."orgId"), ARRAY[]::UUID[])
WHERE t."decision" <> 'deny';

UPDATE "ToolInvocation" t
SET "siteIds" = c."sites"
FROM (
  SELECT i."id", array_agg(DISTINCT d."siteId") AS "sites"
  FROM "ToolInvocation" i
  JOIN "DeviceCommand" c ON starts_with(c."id", i."id" || ':')
  JOIN "Device" d ON d."id" = c."deviceId"
  GROUP BY i."id"
) c
WHERE c."id" = t."id";
