/**
 * Every audit action, with what it records. `audit()` takes only these names, so an event nobody can look up here
 * does not compile; `npm run docs` writes the table in docs/audit.md from this list.
 */
export const AUDIT_ACTIONS = {
  // People and access
  'auth.signed_in': 'someone signed in to the web console',
  'auth.password_changed': 'a user changed their own password (with the current one)',
  'auth.password_reset': 'a user set their password through a mailed one-time link; their other web sessions ended',
  'security.signin_failed': 'a sign-in with a wrong email or password',
  'user.created': 'a partner admin created a user',
  'user.updated': 'a partner admin renamed a user',
  'user.disabled': "a partner admin disabled a user: their keys and sessions stop working",
  'user.enabled': 'a partner admin re-enabled a user',
  'user.password_reset_sent': 'a partner admin had a one-time password link mailed to a user',
  'role.granted': 'an org admin granted a role, possibly narrowed to sites',
  'role.revoked': 'an org admin removed a role binding',
  'api_key.created': 'a user made an API key for themselves',
  'api_key.revoked': 'a user revoked one of their API keys',
  'security.cross_tenant_access': "an id of this org was asked for by someone outside it (answered as unknown)",

  // Organizations, sites, devices
  'org.created': 'a partner admin created an organization',
  'org.email_approvals_set': 'an org admin changed whether emailed T4 links need a sign-in',
  'site.created': 'an org admin added a site',
  'site.removed': 'an org admin removed an empty site',
  'group.created': 'an org admin added a device group',
  'group.removed': 'an org admin removed a device group',
  'device.updated': 'a device was renamed or moved to another site or group',
  'enrollment_key.created': 'an org admin made an enrollment key',
  'enrollment_key.revoked': 'an org admin revoked an enrollment key',
  'agent.enrolled': 'an agent enrolled with a key and became a device',
  'agent.reenrolled': 'a host enrolled again under the name of its offline device: it took that record over, the old credential was revoked and the commands still queued for it ended',
  'device.renamed': 'a device was renamed by the system (names became unique per organization; the older of two got a suffix)',
  'script.created': 'an org admin added a library script',
  'script.updated': 'an org admin changed a library script (pending approvals of it no longer match)',
  'script.deleted': 'an org admin deleted a library script',

  // Policy, budget, kill switch
  'policy.updated': "an org admin changed the org's tier overrides or approval time",
  'policy.lowered': 'an org admin lowered a tool below its default tier',
  'policy.limits_raised': "an org admin set the org's rate limits above the defaults (messages per user or per org, calls of a tool)",
  'budget.updated': "an org admin changed the org's model budget",
  'budget.denied': 'a model call was refused: the budget is spent',
  'budget.hourly_ceiling': 'a model call was refused: the hourly ceiling was reached',
  'budget.unavailable': 'a model call was refused: the budget could not be checked (fail closed)',
  'copilot.paused': "an org admin paused the copilot (kill switch); the org's pending commands ended",
  'copilot.resumed': 'an org admin resumed the copilot',
  'ratelimit.denied': 'a message or tool call was refused by a rate limit',
  'ratelimit.unavailable': 'a message or tool call was refused: the rate limiter could not be reached (fail closed)',

  // The copilot and its tools
  'injection.refused_message': "a user's message was refused by the injection screen (it never reaches the model)",
  'injection.flagged_output': 'tool output looked like instructions: fenced, flagged, and the session tainted',
  'tool.authorized': 'a tool call was allowed to run (T1/T2)',
  'tool.needs_approval': 'a tool call waits for a human (T3/T4)',
  'tool.denied': 'a tool call was refused, with the rule that refused it',
  'tool.authorization_failed': 'authorizing a tool call failed (denied)',
  'breaker.tripped': "a session's circuit breaker tripped after three rejections in a row",
  'breaker.reset': "an org admin re-armed a session's breaker",
  'workflow.request_refused': 'a message into a workflow did not match a request the api recorded (forged or stale)',
  'security.session_identity_refused': 'an activity refused to act for a session the database does not know under that workflow',
  'security.invocation_id_collision': 'a tool call id was reused for a different call',
  'security.device_out_of_scope': "a call named a device outside the org or the requester's sites",
  'security.command_unauthorized': 'a command was refused: no authorized, digest-matching call behind it',

  // Approvals
  'approval.requested': 'a T3/T4 call asked for approval',
  'approval.notified': 'approvers were told of an approval (mail, Slack)',
  'approval.reminded': 'approvers were reminded halfway through its time',
  'approval.approved': 'an approver approved a call (channel, digest)',
  'approval.rejected': 'an approver rejected a call',
  'approval.expired': 'nobody decided in time: treated as a rejection',
  'approval.cancelled': 'the approval ended without a decision (pause, session end)',
  'approval.decision_refused': 'a decision was refused (not an approver, wrong sites, a session author on T4, wrong digest or phrase)',
  'approval.view_refused': 'an approval was asked for by someone who may not see it (answered as unknown)',
  'approval.signal_ignored': 'the workflow ignored a decision that did not hold when re-checked',
  'approval.reuse_refused': 'an earlier approval was not applied to a different call',
  'approval.slack_unlinked_user': 'a Slack user nobody linked tried to decide',

  // Slack
  'slack.channel_set': "an org admin set the org's Slack channel",
  'slack.link_started': 'a Slack user started linking their account (/gatehouse link)',
  'slack.user_linked': 'a Gatehouse user confirmed a link to their Slack account',
  'slack.user_unlinked': 'a Slack link was removed',
  'slack.link_refused': "a link was refused (Slack's directory does not give that account the user's email, or it is taken)",
  'security.slack_signature_refused': 'a request claiming to be from Slack had a bad signature or timestamp',

  // Agents and commands
  'command.denied': 'a command was not sent (paused org, offline beyond its time)',
  'command.cancelled': 'someone cancelled a command still waiting for its device (it was never sent)',
  'command.result_contradicted': 'a workflow was told of a device result the database disagreed with, and did not believe it',
  'remediation.pause': 'someone paused a remediation',
  'remediation.resume': 'someone resumed a remediation',
  'remediation.cancel': 'someone cancelled a remediation',
  'remediation.result_contradicted': 'a remediation was told of a device result the database disagreed with (events before every command took one path; now command.result_contradicted)',
  'security.agent_connection_unverified': 'an agent connection was refused: its credentials did not verify',
  'security.duplicate_agent_connection': 'a second connection with the same device credential was refused (a clone)',
  'security.agent_flood': 'an agent sent frames past its limits',
  'security.result_from_wrong_device': "a device reported a result for another device's command (ignored)",
  'security.output_from_wrong_device': "a device sent output for another device's command (ignored)",
  'security.command_refused_by_agent': 'an agent refused a command (no digest for T3/T4, bad signature, expired)',

  // Audit itself
  'codec.decoded': "someone decoded workflow payloads through the Temporal UI's codec endpoint",
  'codec.decode_denied': 'someone who may not read every history asked the codec endpoint',
} as const;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
