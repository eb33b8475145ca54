/**
 * Prisma CLI configuration. The CLI runs its WASM schema engine through the pg driver adapter, so it never needs
 * the native engines it would otherwise try to download (see ../shared/design/toolchain.md).
 */
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import { loadEnv } from './lib/env';

const connectionString = loadEnv().DATABASE_URL;

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  adapter: async () => new PrismaPg({ connectionString }),
});
