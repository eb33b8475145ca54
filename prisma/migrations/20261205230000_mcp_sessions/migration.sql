-- Gatehouse as an MCP server: an MCP session is a copilot session started by an MCP client (its name and version
-- shown beside it), and a tools/call is a recorded request whose id alone is sent to the session's workflow.
ALTER TABLE "CopilotSession" ADD COLUMN "startedVia" TEXT NOT NULL DEFAULT 'api';
ALTER TABLE "CopilotSession" ADD COLUMN "mcpClient" TEXT;
ALTER TABLE "WorkflowRequest" ADD COLUMN "toolName" TEXT;
ALTER TABLE "WorkflowRequest" ADD COLUMN "toolInput" JSONB;
