import { randomUUID } from "node:crypto";
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import WebSocket from "ws";
import { connectDatabase } from "../connect";
import { MIGRATIONS_FOLDER } from "../migrations-folder";
import { startLocalDatabase } from "./server";

/**
 * A throw-away, migrated database on a real PostgreSQL server (tests and benchmarks), reached
 * the production way: the Neon driver through the local WebSocket proxy. `drop()` removes it.
 */
export async function createScratchDatabase(serverUrl: string, prefix = "edgestock_test") {
  const local = await startLocalDatabase({ serverUrl });
  const connect = (url: string) => connectDatabase(url, { localProxy: local.proxy, webSocket: WebSocket, max: 2 });
  const name = `${prefix}_${randomUUID().replaceAll("-", "")}`;
  const admin = connect(serverUrl);
  await admin.pool.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  // Migrated on connections of their own: settings the migrations give the database (ALTER
  // DATABASE ... SET) apply to connections opened after them.
  const migrator = connect(url.toString());
  await migrate(migrator.db, { migrationsFolder: MIGRATIONS_FOLDER });
  await migrator.pool.end();
  const target = connect(url.toString());
  return {
    url: url.toString(),
    proxy: local.proxy,
    ...target,
    async drop() {
      await target.pool.end();
      await admin.pool.query(`drop database if exists ${name} with (force)`);
      await admin.pool.end();
      await local.stop();
    },
  };
}
