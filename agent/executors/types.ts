import type { CommandKind } from '../../common/protocol';

/** An error the agent reports with a fixed code; the server never forwards the agent's free text to the model. */
export class ExecutorError extends Error {
  constructor(
    readonly code: 'UNSUPPORTED' | 'DISABLED' | 'NOT_FOUND' | 'TIMEOUT' | 'EXECUTION_FAILED' | 'INVALID_COMMAND',
    message: string,
  ) {
    super(message);
  }
}

/** One executor per kind of endpoint. `Record<CommandKind, …>`: a new command kind without a handler won't compile. */
export type Executor = { [K in CommandKind]: (params: Record<string, unknown>) => Promise<unknown> };
