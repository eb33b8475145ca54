/**
 * One workflow bundle for a whole jest run. Webpack-bundling workflows/ costs seconds of CPU, and every
 * integration test file's worker used to pay it again. Jest's global setup (`buildRunBundle`) builds the bundle
 * from the current source at the start of every run, never reusing one from an earlier run, and records each
 * source file that went into it with a digest of their contents. A worker uses it only while those files are
 * unchanged (`freshRunBundle`); otherwise it bundles from source as before, so a stale bundle cannot reach a test
 * (a workflow edited during a watch run, a harness used outside jest).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';
import { z } from 'zod';
import { digestOf, type BundleManifest } from '../lib/workflow-bundle';
import { WORKFLOW_BUNDLE_OPTIONS } from '../worker/create-worker';

export { freshRunBundle } from '../lib/workflow-bundle';

/** The files the bundle was built from, as its inline source map lists them (webpack's own modules excluded). */
function sourcesOf(code: string): string[] | undefined {
  const inline = /\/\/# sourceMappingURL=data:application\/json;[^,]*base64,([A-Za-z0-9+/=]+)\s*$/.exec(code);
  if (!inline) return undefined;
  const map = z.object({ sources: z.array(z.string()) }).safeParse(JSON.parse(Buffer.from(inline[1]!, 'base64').toString('utf8')));
  return map.success ? map.data.sources.filter((s) => path.isAbsolute(s)).sort() : undefined;
}

/**
 * Builds this run's bundle into a fresh temporary directory and returns the manifest's path, or undefined (the
 * workers then bundle for themselves) when the bundle does not say what it was built from.
 */
export async function buildRunBundle(options: BundleOptions = WORKFLOW_BUNDLE_OPTIONS): Promise<{ manifestPath: string; dir: string } | undefined> {
  const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  const { code } = await bundleWorkflowCode({ ...options, logger: silent });
  const sources = sourcesOf(code);
  if (!sources) {
    console.warn('workflow bundle: no inline source map lists its sources; each test worker bundles workflows/ itself');
    return undefined;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-workflow-bundle-'));
  const codePath = path.join(dir, 'workflows.js');
  await writeFile(codePath, code);
  const manifest: BundleManifest = { codePath, sources, digest: await digestOf(sources) };
  const manifestPath = path.join(dir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest));
  return { manifestPath, dir };
}

export async function removeRunBundle(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
