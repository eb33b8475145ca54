-- One path for every device command: each row names its tool invocation and the workflow to tell of its result
-- (a session for its own tool call's commands, a remediation for its devices'), which the api tells with the
-- `commandResults` signal. No workflow waits on an activity's task token any more.

-- Rows made before the invocation was stored carry it in their id: `<invocationId>:<deviceId>` (common/ids.ts).
UPDATE "DeviceCommand"
SET "invocationId" = left("id", length("id") - length("deviceId"::text) - 1)
WHERE "invocationId" IS NULL
  AND right("id", length("deviceId"::text) + 1) = ':' || "deviceId"::text
  AND length("id") > length("deviceId"::text) + 1;

-- A single tool call's commands were waited for by its session's workflow.
UPDATE "DeviceCommand" c
SET "reportTo" = s."workflowId"
FROM "ToolInvocation" i JOIN "CopilotSession" s ON s."id" = i."sessionId"
WHERE c."reportTo" IS NULL AND i."id" = c."invocationId";

-- Whatever still names nothing was made outside a tool call (only test fixtures did): kept, as already reported, so
-- nobody is told of it.
UPDATE "DeviceCommand"
SET "invocationId" = COALESCE("invocationId", ''), "reportTo" = COALESCE("reportTo", ''), "reportedAt" = COALESCE("reportedAt", now() AT TIME ZONE 'UTC')
WHERE "invocationId" IS NULL OR "reportTo" IS NULL;

ALTER TABLE "DeviceCommand"
  ALTER COLUMN "invocationId" SET NOT NULL,
  ALTER COLUMN "reportTo" SET NOT NULL,
  DROP COLUMN "taskToken";
