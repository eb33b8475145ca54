import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildRunBundle, freshRunBundle, removeRunBundle } from './workflow-bundle';

let src: string;
let workflowsPath: string;
let built: { manifestPath: string; dir: string } | undefined;
beforeAll(async () => {
  // Inside the repository (data/ is ignored by git and jest): the bundler resolves @temporalio/workflow from here.
  const data = path.resolve(__dirname, '..', 'data');
  await mkdir(data, { recursive: true });
  src = await mkdtemp(path.join(data, 'bundle-src-'));
  workflowsPath = path.join(src, 'index.ts');
  await writeFile(path.join(src, 'greeting.ts'), "export const greeting = 'hello';\n");
  await writeFile(workflowsPath, "import { greeting } from './greeting';\nexport async function greet(): Promise<string> {\n  return greeting;\n}\n");
  built = await buildRunBundle({ workflowsPath });
}, 120_000);
afterAll(async () => {
  if (built) await removeRunBundle(built.dir);
  await rm(src, { recursive: true, force: true });
});

it('shares the run bundle, built from the workflow source, while that source is unchanged', async () => {
  const bundle = await freshRunBundle(built?.manifestPath);
  expect(bundle).toBeDefined();
  expect(await readFile(bundle!.codePath, 'utf8')).toContain("'hello'");
});

it('stops sharing the bundle once a file it was built from changes, so workers bundle the new code', async () => {
  await writeFile(path.join(src, 'greeting.ts'), "export const greeting = 'bonjour';\n");
  expect(await freshRunBundle(built?.manifestPath)).toBeUndefined();
});

it('bundles from source when there is no run bundle or its manifest is gone', async () => {
  expect(await freshRunBundle(undefined)).toBeUndefined();
  expect(await freshRunBundle(path.join(src, 'no-such-manifest.json'))).toBeUndefined();
});

it('leaves nothing behind for a later run once the run ends', async () => {
  const manifestPath = built!.manifestPath;
  await removeRunBundle(built!.dir);
  built = undefined;
  expect(await freshRunBundle(manifestPath)).toBeUndefined();
});
