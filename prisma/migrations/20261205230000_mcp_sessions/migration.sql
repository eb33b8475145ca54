-- Gatehouse as an MCP server: an MCP session is a copilot session started by an MCP client (its name and version
-- shown beside it), and a tools/call is a recorded request whose id alone is sent to the session's workflow.
ALTER TABLE "CopilotSession" ADD COLUMN "startedVia" TEXT NOT NULL DEFAULT 'api';
ALTER TABLE "CopilotSession" ADD COLUMN "mcpClient" TEXT;
ALTER TABLE "WorkflowRequest" ADD COLUMN "toolName" TEXT;
ALTER TABLE "WorkflowRequest" ADD COLUMN "toolInput" JSONB;
-- A tool call is one more kind of request, and carries its tool and arguments (and only it does).
ALTER TABLE "WorkflowRequest" DROP CONSTRAINT "WorkflowRequest_kind_check";
ALTER TABLE "WorkflowRequest" ADD CONSTRAINT "WorkflowRequest_kind_check"
  CHECK ("kind" IN ('message', 'tool_call', 'breaker_reset', 'remediation_pause', 'remediation_resume', 'remediation_cancel'));
ALTER TABLE "WorkflowRequest" ADD CONSTRAINT "WorkflowRequest_tool_check" CHECK (("kind" = 'tool_call') = ("toolName" IS NOT NULL));
ALTER TABLE "CopilotSession" ADD CONSTRAINT "CopilotSession_startedVia_check" CHECK ("startedVia" IN ('api', 'mcp'));
