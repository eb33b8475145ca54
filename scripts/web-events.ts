/**
 * web/lib/events.js, rendered from the `/console` catalog (common/console-protocol.ts). The console is plain
 * browser modules with no build step, so it cannot import the TypeScript catalog: it imports this generated copy of
 * the event names instead (and the names of the tools that run as a remediation, from the tool catalog, so no page
 * names a tool itself). `npm run docs` writes it; scripts/generate-docs.test.ts fails when it is stale.
 */
import path from 'node:path';
import { ConsoleEvents, SessionEventType } from '../common/console-protocol';
import { REMEDIATION_TOOLS } from '../common/tools';
import { Direction } from '../common/socket-catalog';

export const WEB_EVENTS_FILE = path.resolve(__dirname, '..', 'web', 'lib', 'events.js');

const constName = (event: string) => event.replace(/[:_-](\w)/g, (_, c: string) => c.toUpperCase()).replace(/^\w/, (c) => c.toUpperCase());

export function webEventsModule(): string {
  const byDirection = (direction: Direction) =>
    Object.entries(ConsoleEvents)
      .filter(([, spec]) => spec.direction === direction)
      .map(([name]) => `  ${constName(name)}: '${name}',`);
  return [
    '// Generated from common/console-protocol.ts and common/tools by `npm run docs`; edit those, not this file.',
    '',
    '/** What the console sends on Socket.IO `/console`. */',
    'export const ConsoleSend = Object.freeze({',
    ...byDirection(Direction.ToServer),
    '});',
    '',
    '/** What the console receives on Socket.IO `/console`. */',
    'export const ConsoleReceive = Object.freeze({',
    ...byDirection(Direction.ToClient),
    '});',
    '',
    '/** The `type` of a `session:event`. */',
    'export const SessionEventType = Object.freeze({',
    ...Object.entries(SessionEventType).map(([key, name]) => `  ${key}: '${name}',`),
    '});',
    '',
    '/** The tools that run as a remediation (followed at #/remediations/<invocation id>); from common/tools. */',
    `export const REMEDIATION_TOOLS = Object.freeze(${JSON.stringify(REMEDIATION_TOOLS)});`,
    '',
  ].join('\n');
}
