/** The device credential on the endpoint: a JSON file readable by its owner only (0600). */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export const AgentCredentials = z.object({
  server: z.url(),
  deviceId: z.uuid(),
  secret: z.string().min(20),
  orgId: z.uuid(),
  name: z.string(),
  /** The server's public key for command signatures (SPKI PEM), from enrollment; older credentials lack it. */
  commandKey: z.string().min(40).optional(),
});
export type AgentCredentials = z.infer<typeof AgentCredentials>;

export async function saveCredentials(file: string, creds: AgentCredentials): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(creds, null, 2), { mode: 0o600 });
  await chmod(file, 0o600); // writeFile's mode does not apply to an existing file
}

export async function loadCredentials(file: string): Promise<AgentCredentials> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`no credential at ${file}; enroll first: npm run agent -- enroll --server <url> --key <enrollment key>`);
  }
  const parsed = AgentCredentials.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`the credential file ${file} is damaged; enroll again`);
  return parsed.data;
}
