-- The turn a session is running now, and whether the api told it of a pause it has not yet told it the end of: the
-- kill switch signals those sessions, not every session the org ever had (api/services/orgs.ts).
ALTER TABLE "CopilotSession" ADD COLUMN "activeTurnId" TEXT;
ALTER TABLE "CopilotSession" ADD COLUMN "pauseToldAt" TIMESTAMP(3);

-- Every session of an org paused now was told of it (the kill switch signalled them all): each hears the resume.
UPDATE "CopilotSession" s SET "pauseToldAt" = o."copilotPausedAt"
FROM "Organization" o
WHERE s."orgId" = o."id" AND o."copilotPausedAt" IS NOT NULL;

-- The api's sweep looks for sessions told of a pause whose org runs again (a resume they missed).
CREATE INDEX "CopilotSession_pauseToldAt_idx" ON "CopilotSession"("pauseToldAt");
