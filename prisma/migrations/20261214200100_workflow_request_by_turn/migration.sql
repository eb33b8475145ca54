-- A tool call's request is looked up by its session and the turn it became ("usedFor"), for the call's OAuth grant:
-- by authorization (activities/authorize-record.ts) and by the command authority's read before every batch
-- (activities/command-record.ts, activities/oauth-grant.ts). No index served it: each read scanned every request
-- of every session (1,204 rows in the test database, 0.23 ms, and growing with every message).
CREATE INDEX "WorkflowRequest_sessionId_usedFor_idx" ON "WorkflowRequest"("sessionId", "usedFor");
