/** The workflows the worker registers. Only @temporalio/workflow, zod and common/ may be imported here. */
export { copilotSession } from './copilot-session';
export { remediation } from './remediation';
export { terminalAccess } from './terminal-access';
