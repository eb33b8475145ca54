-- Full command output (stdout and stderr as the agent spooled them), uploaded in chunks before the result and
-- paged through by get_command_result.

-- CreateTable
CREATE TABLE "CommandOutputChunk" (
    "commandId" TEXT NOT NULL,
    "orgId" UUID NOT NULL,
    "stream" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CommandOutputChunk_pkey" PRIMARY KEY ("commandId","stream","seq"),
    -- The protocol's own bounds (common/protocol.ts): two streams, 32 chunks of at most 256 KiB each.
    CONSTRAINT "CommandOutputChunk_stream_check" CHECK ("stream" IN ('stdout', 'stderr')),
    CONSTRAINT "CommandOutputChunk_seq_check" CHECK ("seq" >= 0 AND "seq" < 32),
    CONSTRAINT "CommandOutputChunk_data_check" CHECK (octet_length("data") BETWEEN 1 AND 262144)
);

-- CreateIndex
CREATE INDEX "CommandOutputChunk_orgId_idx" ON "CommandOutputChunk"("orgId");

-- Row-level security, as on every table with an orgId (migration 20261121080000_tenancy): gatehouse_app sees and
-- writes only the rows of the organizations set for its transaction. The gateway writes as the connecting role.
GRANT SELECT, INSERT, UPDATE, DELETE ON "CommandOutputChunk" TO gatehouse_app;
ALTER TABLE "CommandOutputChunk" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CommandOutputChunk"
  USING ("orgId" = ANY (gatehouse_org_ids()))
  WITH CHECK ("orgId" = ANY (gatehouse_org_ids()));
