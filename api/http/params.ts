/** Path parameters shared by the routes: an organization by id or slug, and a row by its UUID. */
import { z } from 'zod';
import { TurnId } from '../../common/ids';

export const OrgParams = z.object({ id: z.string().min(1).max(100).describe('Organization id or slug') }).strict();
export const IdParams = z.object({ id: z.uuid('id must be a UUID') }).strict();
/** A session's turn: the session's UUID and the turn id its message was answered with (`t1`, `t2`, …). */
export const TurnParams = z.object({ id: z.uuid('id must be a UUID'), turnId: TurnId }).strict();
