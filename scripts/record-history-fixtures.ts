/**
 * `npm run record-fixtures`: records the committed workflow histories that CI replays. Run it only for a new
 * fixture; a change that breaks an existing one is fixed with `patched()`, never by re-recording.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestSystem, waitUntil } from '../test/harness';

const dir = path.resolve(__dirname, '..', 'test', 'fixtures', 'histories');

async function main(): Promise<void> {
  const sys = await startTestSystem({ agent: true });
  try {
    const key = sys.keyOf('technician');
    const created = await sys.request('POST', '/v1/sessions', { key, body: {} });
    const sessionId = created.body.id as string;
    for (const text of ['what is the hostname and uptime of the demo device?', 'which processes are running on the demo device?']) {
      const sent = await sys.request('POST', `/v1/sessions/${sessionId}/messages`, { key, body: { text } });
      await waitUntil(async () => {
        const s = (await sys.request('GET', `/v1/sessions/${sessionId}`, { key })).body;
        return s.turns.find((t: { turnId: string }) => t.turnId === sent.body.turnId)?.status === 'answered';
      }, 'the answer', 60_000);
    }
    const history = await sys.temporal.client.workflow.getHandle(created.body.workflowId).fetchHistory();
    const file = path.join(dir, 'copilot-session-two-turns.json');
    // Same encoding as `temporal workflow show --output json`, which Worker.runReplayHistory reads back.
    const { historyToJSON } = await import('@temporalio/common/lib/proto-utils');
    await writeFile(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), file)} (${history.events?.length} events)`);
  } finally {
    await sys.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
