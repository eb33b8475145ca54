// Generated from common/console-protocol.ts and common/tools by `npm run docs`; edit those, not this file.

/** What the console sends on Socket.IO `/console`. */
export const ConsoleSend = Object.freeze({
  SessionSubscribe: 'session:subscribe',
});

/** What the console receives on Socket.IO `/console`. */
export const ConsoleReceive = Object.freeze({
  SessionEvent: 'session:event',
});

/** The `type` of a `session:event`. */
export const SessionEventType = Object.freeze({
  TurnStarted: 'turn:started',
  ModelReplied: 'model:replied',
  ToolStarted: 'tool:started',
  ToolCompleted: 'tool:completed',
  ToolDenied: 'tool:denied',
  ApprovalRequested: 'approval:requested',
  ApprovalDecided: 'approval:decided',
  BreakerTripped: 'breaker:tripped',
  RemediationProgress: 'remediation:progress',
  CommandWaiting: 'command:waiting',
  TurnEnded: 'turn:ended',
});

/** The tools that run as a remediation (followed at #/remediations/<invocation id>); from common/tools. */
export const REMEDIATION_TOOLS = Object.freeze(["run_remediation"]);
