-- Upstream MCP servers behind Gatehouse: an org admin registers one (a command the worker runs over stdio, or a
-- Streamable HTTP URL); its tools are pinned by the SHA-256 of their description and input schema, scanned by the
-- injection detector, T3 until an admin assigns a tier, and disabled when the upstream changes them.
CREATE TABLE "McpUpstream" (
    "id" UUID NOT NULL,
    "orgId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "transport" TEXT NOT NULL,
    "command" TEXT,
    "args" JSONB NOT NULL DEFAULT '[]',
    "url" TEXT,
    "createdBy" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "McpUpstream_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "McpUpstream_transport_check" CHECK (("transport" = 'stdio' AND "command" IS NOT NULL AND "url" IS NULL) OR ("transport" = 'http' AND "url" IS NOT NULL AND "command" IS NULL)),
    CONSTRAINT "McpUpstream_name_check" CHECK ("name" ~ '^[a-z0-9][a-z0-9-]{0,31}$')
);

CREATE TABLE "McpUpstreamTool" (
    "id" UUID NOT NULL,
    "orgId" UUID NOT NULL,
    "upstreamId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "title" TEXT,
    "description" TEXT NOT NULL,
    "inputSchema" JSONB NOT NULL,
    "sha256" TEXT NOT NULL,
    "tier" INTEGER NOT NULL DEFAULT 3,
    "status" TEXT NOT NULL,
    "findings" JSONB NOT NULL DEFAULT '[]',
    "pendingTitle" TEXT,
    "pendingDescription" TEXT,
    "pendingInputSchema" JSONB,
    "pendingSha256" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "McpUpstreamTool_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "McpUpstreamTool_tier_check" CHECK ("tier" BETWEEN 1 AND 4),
    CONSTRAINT "McpUpstreamTool_status_check" CHECK ("status" IN ('enabled', 'changed', 'flagged'))
);

CREATE UNIQUE INDEX "McpUpstream_orgId_name_key" ON "McpUpstream"("orgId", "name");
CREATE UNIQUE INDEX "McpUpstreamTool_upstreamId_name_key" ON "McpUpstreamTool"("upstreamId", "name");
CREATE INDEX "McpUpstreamTool_orgId_idx" ON "McpUpstreamTool"("orgId");

ALTER TABLE "McpUpstream" ADD CONSTRAINT "McpUpstream_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "McpUpstreamTool" ADD CONSTRAINT "McpUpstreamTool_upstreamId_fkey" FOREIGN KEY ("upstreamId") REFERENCES "McpUpstream"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Row-level security, as on every table with an orgId (migration 20261121080000_tenancy).
GRANT SELECT, INSERT, UPDATE, DELETE ON "McpUpstream" TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON "McpUpstreamTool" TO gatehouse_app;
ALTER TABLE "McpUpstream" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "McpUpstream" USING ("orgId" = ANY (gatehouse_org_ids())) WITH CHECK ("orgId" = ANY (gatehouse_org_ids()));
ALTER TABLE "McpUpstreamTool" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "McpUpstreamTool" USING ("orgId" = ANY (gatehouse_org_ids())) WITH CHECK ("orgId" = ANY (gatehouse_org_ids()));
