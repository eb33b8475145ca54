-- An approver's decision after a remediation's canary failed its check (continue, cancel, roll back) is recorded
-- like a pause or resume: the workflow acts on it only after its activity has checked the row. `text` is its reason.
ALTER TABLE "WorkflowRequest" DROP CONSTRAINT "WorkflowRequest_kind_check";
ALTER TABLE "WorkflowRequest" ADD CONSTRAINT "WorkflowRequest_kind_check"
  CHECK ("kind" IN ('message', 'tool_call', 'breaker_reset', 'remediation_pause', 'remediation_resume', 'remediation_cancel',
                    'remediation_canary_continue', 'remediation_canary_cancel', 'remediation_canary_rollback'));
