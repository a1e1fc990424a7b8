import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { batchesOf } from "../../migrate/batches";
import { createLimit } from "../../migrate/limit";
import { takeTurns } from "../../migrate/turns";

// Faked: the tasks "take" a few milliseconds without the tests waiting for them.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe("batching, limits and turns in the migration", () => {
  it("cuts a stream into batches, pulling only what it yields", async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 7; i++) {
        pulled++;
        yield i;
      }
    }
    const batches = batchesOf(source(), 3);
    expect((await batches.next()).value).toEqual([0, 1, 2]);
    expect(pulled).toBe(3);
    const rest: number[][] = [];
    for await (const batch of batches) rest.push(batch);
    expect(rest).toEqual([[3, 4, 5], [6]]);
  });

  it("runs at most n at once, and a freed slot goes to the next waiter", async () => {
    const limit = createLimit(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const all = Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        limit(async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(5);
          order.push(i);
          running--;
        }),
      ),
    );
    await vi.runAllTimersAsync();
    await all;
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("runs turns in the order they were taken, whatever order they are reached in", async () => {
    const turns = takeTurns();
    const [first, second, third] = [turns(), turns(), turns()];
    const done: string[] = [];
    const c = third.run(async () => void done.push("third"));
    const b = second.run(async () => void done.push("second"));
    await vi.advanceTimersByTimeAsync(5);
    expect(done).toEqual([]);
    await first.run(async () => void done.push("first"));
    await Promise.all([b, c]);
    expect(done).toEqual(["first", "second", "third"]);
  });

  it("lets a turn be given up without blocking the ones after it", async () => {
    const turns = takeTurns();
    const [first, second, third] = [turns(), turns(), turns()];
    const done: string[] = [];
    const c = third.run(async () => void done.push("third"));
    second.release();
    second.release();
    await first
      .run(async () => {
        throw new Error("a failing step still ends its turn");
      })
      .catch(() => {});
    await c;
    expect(done).toEqual(["third"]);
  });
});
