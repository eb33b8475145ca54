/**
 * Every activity, built from its dependencies. The worker registers `createActivities(deps)`; workflows import
 * only the `Activities` type.
 */
import { makeCancelApproval, makeExpireApproval, makeRecordBreakerTrip, makeRequestApproval, makeVerifyApprovalDecision, makeVerifyDecisionAndQueue } from './approvals';
import { makeAuthorizeToolCall } from './authorize-tool-call';
import { makeCheckRateLimits, makeReleaseBudget, makeReserveBudget } from './guards';
import { makeScreenUserMessage } from './screen-user-message';
import { makeCallModel } from './call-model';
import type { ActivityDeps } from './deps';
import { makeDispatchDeviceCommand } from './dispatch-device-command';
import { makeQueueDeviceCommands } from './queue-device-commands';
import { makeRecordLocalDenial } from './record-local-denial';
import { makeRecordToolResult } from './record-tool-result';
import { makeReadCommandOutcomes } from './read-command-outcomes';
import { makeReadCanaryChecks } from './canary-checks';
import { makeReadRemediationDevices } from './read-remediation-devices';
import { makeRecordUserMessage } from './record-user-message';
import { makeRunDatabaseTool } from './run-database-tool';
import {
  makeCancelTerminalApproval,
  makeEndTerminalGrant,
  makeExpireTerminalApproval,
  makeReadTerminalGrant,
  makeRequestTerminalApproval,
  makeVerifyTerminalDecision,
} from './terminal-access';
import { makeCallUpstreamTool } from './call-upstream-tool';
import { makeReadCopilotPaused, makeRefuseUnverifiedRequest, makeVerifyBreakerReset, makeVerifyMessageRequest, makeVerifyCanaryDecision, makeVerifyRemediationControl, makeVerifyToolCallRequest } from './workflow-requests';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    recordUserMessage: makeRecordUserMessage(deps),
    callModel: makeCallModel(deps),
    authorizeToolCall: makeAuthorizeToolCall(deps),
    runDatabaseTool: makeRunDatabaseTool(deps),
    callUpstreamTool: makeCallUpstreamTool(deps),
    queueDeviceCommands: makeQueueDeviceCommands(deps),
    /** Frozen: only for workflows waiting in it across the upgrade to one command path. */
    dispatchDeviceCommand: makeDispatchDeviceCommand(deps),
    recordToolResult: makeRecordToolResult(deps),
    requestApproval: makeRequestApproval(deps),
    verifyApprovalDecision: makeVerifyApprovalDecision(deps),
    verifyDecisionAndQueue: makeVerifyDecisionAndQueue(deps),
    expireApproval: makeExpireApproval(deps),
    cancelApproval: makeCancelApproval(deps),
    recordBreakerTrip: makeRecordBreakerTrip(deps),
    recordLocalDenial: makeRecordLocalDenial(deps),
    screenUserMessage: makeScreenUserMessage(deps),
    checkRateLimits: makeCheckRateLimits(deps),
    reserveBudget: makeReserveBudget(deps),
    releaseBudget: makeReleaseBudget(deps),
    verifyMessageRequest: makeVerifyMessageRequest(deps),
    verifyToolCallRequest: makeVerifyToolCallRequest(deps),
    verifyBreakerReset: makeVerifyBreakerReset(deps),
    verifyRemediationControl: makeVerifyRemediationControl(deps),
    verifyCanaryDecision: makeVerifyCanaryDecision(deps),
    readCanaryChecks: makeReadCanaryChecks(deps),
    readRemediationDevices: makeReadRemediationDevices(deps),
    refuseUnverifiedRequest: makeRefuseUnverifiedRequest(deps),
    readCommandOutcomes: makeReadCommandOutcomes(deps),
    readCopilotPaused: makeReadCopilotPaused(deps),
    requestTerminalApproval: makeRequestTerminalApproval(deps),
    verifyTerminalDecision: makeVerifyTerminalDecision(deps),
    expireTerminalApproval: makeExpireTerminalApproval(deps),
    cancelTerminalApproval: makeCancelTerminalApproval(deps),
    readTerminalGrant: makeReadTerminalGrant(deps),
    endTerminalGrant: makeEndTerminalGrant(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
