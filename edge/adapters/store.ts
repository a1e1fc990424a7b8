import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config";

/**
 * The cache and rate-limit store: Upstash Redis in production (REST, works from Workers), and
 * with no Upstash credentials an in-isolate stand-in with the same semantics. `wrangler dev`
 * runs one isolate, so locally every request sees the same counters.
 */
export interface Store {
  readonly kind: "upstash" | "memory";
  /** Increments `key` (expiring after `ttlMs` from its first hit) and returns its new value with the value of `otherKey`. */
  incrementAndGet(key: string, ttlMs: number, otherKey: string): Promise<{ value: number; other: number }>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  ping(): Promise<void>;
}

class UpstashStore implements Store {
  readonly kind = "upstash";
  constructor(private readonly redis: Redis) {}
  async incrementAndGet(key: string, ttlMs: number, otherKey: string) {
    const [value, , other] = await this.redis.pipeline().incr(key).pexpire(key, ttlMs, "NX").get<string | number>(otherKey).exec<[number, number, string | number | null]>();
    return { value, other: Number(other ?? 0) };
  }
  async get(key: string) {
    const value = await this.redis.get<string>(key);
    return value == null ? null : String(value);
  }
  async set(key: string, value: string, ttlMs: number) {
    await this.redis.set(key, value, { px: ttlMs });
  }
  async ping() {
    await this.redis.ping();
  }
}

class MemoryStore implements Store {
  readonly kind = "memory";
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private live(key: string) {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
  private sweep() {
    if (this.entries.size < 10_000) return;
    const now = Date.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
  async incrementAndGet(key: string, ttlMs: number, otherKey: string) {
    this.sweep();
    const entry = this.live(key) ?? { value: "0", expiresAt: Date.now() + ttlMs };
    entry.value = String(Number(entry.value) + 1);
    this.entries.set(key, entry);
    return { value: Number(entry.value), other: Number(this.live(otherKey)?.value ?? 0) };
  }
  async get(key: string) {
    return this.live(key)?.value ?? null;
  }
  async set(key: string, value: string, ttlMs: number) {
    this.sweep();
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }
  async ping() {}
}

let memory: MemoryStore | undefined;
const upstash = new Map<string, UpstashStore>();

export function openStore(config: Config): Store {
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    let store = upstash.get(config.UPSTASH_REDIS_REST_URL);
    if (!store) {
      store = new UpstashStore(new Redis({ url: config.UPSTASH_REDIS_REST_URL, token: config.UPSTASH_REDIS_REST_TOKEN, retry: false }));
      upstash.set(config.UPSTASH_REDIS_REST_URL, store);
    }
    return store;
  }
  memory ??= new MemoryStore();
  return memory;
}
