import type { CommandKind } from '../../common/protocol';
import type { OutputFiles } from '../output-spool';

/** An error the agent reports with a fixed code; the server never forwards the agent's free text to the model. */
export class ExecutorError extends Error {
  constructor(
    readonly code: 'UNSUPPORTED' | 'DISABLED' | 'NOT_FOUND' | 'TIMEOUT' | 'EXECUTION_FAILED' | 'INVALID_COMMAND',
    message: string,
  ) {
    super(message);
  }
}

/** What the agent gives a running command besides its parameters. */
export interface ExecutionContext {
  /** Files for the command's full stdout and stderr (see ../output-spool.ts); a handler that has them writes there. */
  output?: OutputFiles;
  /** Aborted when the command's dispatch timeout passes: a handler that runs processes kills them (the whole tree). */
  signal?: AbortSignal;
}

/** One executor per kind of endpoint. `Record<CommandKind, …>`: a new command kind without a handler won't compile. */
export type Executor = { [K in CommandKind]: (params: Record<string, unknown>, ctx?: ExecutionContext) => Promise<unknown> };
