/**
 * A workflow bundle built once for a whole jest run (test/workflow-bundle.ts builds it; jest's global setup hands its
 * manifest to every process of the run in TEST_WORKFLOW_BUNDLE). Whoever would bundle workflows/ (a test's worker,
 * the audit CLI a test runs) uses it only while every source file that went into it is unchanged, and otherwise
 * bundles from source: a stale bundle cannot replace the current code.
 */
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const BundleManifest = z.object({ codePath: z.string(), sources: z.array(z.string()), digest: z.string() });
export type BundleManifest = z.infer<typeof BundleManifest>;

/** A digest of the files' paths and contents, in the order given. */
export async function digestOf(files: string[]): Promise<string> {
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    // A file that is gone (or virtual, like webpack's generated entry point) hashes as missing, the same both times.
    const content = await readFile(file).catch(() => Buffer.from('\0missing'));
    hash.update(file).update('\0').update(crypto.createHash('sha256').update(content).digest());
  }
  return hash.digest('hex');
}

/** This run's bundle if every file it was built from is unchanged; undefined means: bundle from source. */
export async function freshRunBundle(manifestPath: string | undefined): Promise<{ codePath: string } | undefined> {
  if (!manifestPath) return undefined;
  let manifest: BundleManifest;
  try {
    manifest = BundleManifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  } catch {
    return undefined;
  }
  return (await digestOf(manifest.sources)) === manifest.digest ? { codePath: manifest.codePath } : undefined;
}
