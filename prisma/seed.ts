/** `npm run seed`: creates the demo tenants and writes their users' API keys to data/demo-credentials.json. */
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadEnvOrExit } from '../lib/env';
import { createPrisma } from '../lib/prisma';
import { seedDemo } from './seed-demo';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const prisma = createPrisma(env.DATABASE_URL);
  try {
    const seed = await seedDemo(prisma);
    await mkdir(env.DATA_DIR, { recursive: true });
    const file = path.join(env.DATA_DIR, 'demo-credentials.json');
    await writeFile(file, JSON.stringify(seed.credentials, null, 2), { mode: 0o600 });
    console.log(`seeded ${seed.credentials.length} demo users; their API keys are in ${file}`);
  } finally {
    await prisma.$disconnect();
  }
}

main().catch((err: unknown) => {
  console.error('seed failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
