/**
 * Prisma CLI configuration. The CLI runs its WASM schema engine through the pg driver adapter, so it never needs
 * the native engines it would otherwise try to download (see ../shared/design/toolchain.md).
 *
 * The adapter's `executeScript` splits a migration on every `;`, which cuts PL/pgSQL bodies (triggers, DO blocks)
 * apart. Migrations are sent whole instead: one simple query, which PostgreSQL runs as one implicit transaction,
 * so a failing migration leaves nothing half-applied.
 */
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { loadEnv } from './lib/env';

const connectionString = loadEnv().DATABASE_URL;

class WholeScriptPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    adapter.executeScript = async (script: string) => {
      try {
        await (adapter.underlyingDriver() as Pool).query(script);
      } catch (err) {
        // The schema engine reports only "External error id#0": say what PostgreSQL said.
        console.error(`migration script failed: ${(err as Error).message}`);
        throw err;
      }
    };
    return adapter;
  }
}

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  adapter: async () => new WholeScriptPg({ connectionString }),
});
