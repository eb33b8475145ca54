/** The what-if of a proposed policy over the org's recorded tool calls (docs/policy.md). */
import type { z } from 'zod';
import type { WhatIfAnswer } from '../../common/api-answers';
import { AppError, AppErrorCode } from '../../lib/app-error';
import type { Caller } from './caller';

export async function whatIf(_caller: Caller, _orgRef: string, _policy: unknown, _windowDays: number): Promise<z.input<typeof WhatIfAnswer>> {
  throw new AppError(AppErrorCode.BadRequest, 'not yet');
}
