-- What a person asked a workflow to do (a copilot message, a breaker reset, a remediation's pause, resume or
-- cancel), recorded by the api; signals and updates carry only the row's id, and an activity checks it here
-- before the workflow acts on it (audit finding F4).

-- CreateTable
CREATE TABLE "WorkflowRequest" (
    "id" UUID NOT NULL,
    "orgId" UUID NOT NULL,
    "sessionId" UUID NOT NULL,
    "workflowId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "userId" UUID NOT NULL,
    "text" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "usedAt" TIMESTAMP(3),
    "usedFor" TEXT,

    CONSTRAINT "WorkflowRequest_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "WorkflowRequest_kind_check" CHECK ("kind" IN ('message', 'breaker_reset', 'remediation_pause', 'remediation_resume', 'remediation_cancel'))
);

-- CreateIndex
CREATE INDEX "WorkflowRequest_workflowId_idx" ON "WorkflowRequest"("workflowId");

-- Row-level security, as on every table with an orgId (migration 20261121080000_tenancy).
GRANT SELECT, INSERT, UPDATE, DELETE ON "WorkflowRequest" TO gatehouse_app;
ALTER TABLE "WorkflowRequest" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "WorkflowRequest"
  USING ("orgId" = ANY (gatehouse_org_ids()))
  WITH CHECK ("orgId" = ANY (gatehouse_org_ids()));

-- Messages the injection screen refused were stored as ordinary user text before this change, and every later
-- model request of their session carried them (audit finding F3). The screen audited each refusal with its turn:
-- those rows become "user_refused", which no model request includes (activities/call-model.ts).
UPDATE "Message" m SET "kind" = 'user_refused'
FROM "AuditEvent" a
WHERE a."action" = 'injection.refused_message'
  AND a."sessionId" = m."sessionId"
  AND a."data"->>'turnId' = m."turnId"
  AND m."kind" = 'user_text'
  AND m."role" = 'user';
