-- An org's own rate limits, set by its admins through the policy (PUT /v1/orgs/:id/policy `rateLimits`): messages
-- per user per minute, messages of the org per hour, and per tool the calls each user may make in the tool's window.
-- Null (and a tool not listed): the deployment's defaults (RATE_* settings, the tool catalog).
ALTER TABLE "Organization" ADD COLUMN "rateUserMessagesPerMinute" INTEGER;
ALTER TABLE "Organization" ADD COLUMN "rateOrgMessagesPerHour" INTEGER;
ALTER TABLE "Organization" ADD COLUMN "rateToolCalls" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "Organization" ADD CONSTRAINT "Organization_rate_limits_check"
  CHECK (("rateUserMessagesPerMinute" IS NULL OR "rateUserMessagesPerMinute" > 0)
     AND ("rateOrgMessagesPerHour" IS NULL OR "rateOrgMessagesPerHour" > 0)
     AND jsonb_typeof("rateToolCalls") = 'object');
