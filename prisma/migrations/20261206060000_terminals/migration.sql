-- The remote terminal (docs/terminal.md): requests and their approval windows, and the asciicast recording of every
-- PTY, stored per org under row-level security like every tenant table.
-- CreateTable
CREATE TABLE "TerminalSession" (
    "id" UUID NOT NULL,
    "orgId" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "requestedBy" UUID NOT NULL,
    "reason" TEXT NOT NULL,
    "windowSeconds" INTEGER NOT NULL,
    "tier" INTEGER NOT NULL,
    "workflowId" TEXT NOT NULL,
    "approvalId" UUID,
    "status" TEXT NOT NULL,
    "approvedAt" TIMESTAMP(3),
    "windowEndsAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),
    "endReason" TEXT,
    "endedBy" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TerminalSession_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TerminalRecording" (
    "id" UUID NOT NULL,
    "orgId" UUID NOT NULL,
    "terminalSessionId" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "cols" INTEGER NOT NULL,
    "rows" INTEGER NOT NULL,
    "openedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "connectedAt" TIMESTAMP(3),
    "closedAt" TIMESTAMP(3),
    "closeReason" TEXT,
    "exitCode" INTEGER,
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,
    "castBytes" BIGINT NOT NULL DEFAULT 0,
    "sha256" TEXT,

    CONSTRAINT "TerminalRecording_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TerminalRecordingChunk" (
    "recordingId" UUID NOT NULL,
    "orgId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TerminalRecordingChunk_pkey" PRIMARY KEY ("recordingId","seq")
);

-- CreateIndex
CREATE UNIQUE INDEX "TerminalSession_workflowId_key" ON "TerminalSession"("workflowId");

-- CreateIndex
CREATE UNIQUE INDEX "TerminalSession_approvalId_key" ON "TerminalSession"("approvalId");

-- CreateIndex
CREATE INDEX "TerminalSession_orgId_createdAt_idx" ON "TerminalSession"("orgId", "createdAt");

-- CreateIndex
CREATE INDEX "TerminalRecording_orgId_openedAt_idx" ON "TerminalRecording"("orgId", "openedAt");

-- CreateIndex
CREATE INDEX "TerminalRecording_terminalSessionId_idx" ON "TerminalRecording"("terminalSessionId");

-- CreateIndex
CREATE INDEX "TerminalRecordingChunk_orgId_idx" ON "TerminalRecordingChunk"("orgId");

-- AddForeignKey
ALTER TABLE "TerminalRecording" ADD CONSTRAINT "TerminalRecording_terminalSessionId_fkey" FOREIGN KEY ("terminalSessionId") REFERENCES "TerminalSession"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TerminalRecordingChunk" ADD CONSTRAINT "TerminalRecordingChunk_recordingId_fkey" FOREIGN KEY ("recordingId") REFERENCES "TerminalRecording"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


ALTER TABLE "TerminalSession" ADD CONSTRAINT "TerminalSession_status_check"
  CHECK ("status" IN ('pending', 'approved', 'rejected', 'expired', 'cancelled', 'revoked', 'ended'));

-- A recording is evidence: once its hash is in the audit chain, its chunks are never changed or removed.
CREATE FUNCTION gatehouse_recording_chunk_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'terminal recordings are append-only';
END
$$;
CREATE TRIGGER "TerminalRecordingChunk_append_only" BEFORE UPDATE OR DELETE ON "TerminalRecordingChunk"
  FOR EACH ROW EXECUTE FUNCTION gatehouse_recording_chunk_immutable();

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['TerminalSession', 'TerminalRecording', 'TerminalRecordingChunk'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING ("orgId" = ANY (gatehouse_org_ids())) WITH CHECK ("orgId" = ANY (gatehouse_org_ids()))',
      t
    );
  END LOOP;
END
$$;
