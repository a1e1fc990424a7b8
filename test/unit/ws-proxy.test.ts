import { describe, expect, it } from "vitest";
import { TerminateScanner } from "../../db/local/ws-proxy";

function message(type: string, body: Buffer) {
  const header = Buffer.alloc(5);
  header.write(type, 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
function startup() {
  const params = Buffer.from("user\0postgres\0database\0postgres\0\0");
  const b = Buffer.alloc(8);
  b.writeInt32BE(params.length + 8, 0);
  b.writeInt32BE(196608, 4);
  return Buffer.concat([b, params]);
}
const sslRequest = () => Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

describe("the proxy's Terminate detection", () => {
  it("finds Terminate after startup and queries, however the stream is split", () => {
    // A query whose text contains the bytes of a Terminate message must not count.
    const fakeTerminate = Buffer.from([0x58, 0, 0, 0, 4]);
    const stream = Buffer.concat([
      sslRequest(),
      startup(),
      message("Q", Buffer.concat([Buffer.from("select '"), fakeTerminate, Buffer.from("'\0")])),
      message("X", Buffer.alloc(0)),
    ]);
    for (const size of [1, 3, 7, stream.length]) {
      const scanner = new TerminateScanner();
      const seen: boolean[] = [];
      for (let i = 0; i < stream.length; i += size) seen.push(scanner.sawTerminate(stream.subarray(i, i + size)));
      expect(seen.at(-1)).toBe(true);
      expect(seen.slice(0, -1).every((s) => !s)).toBe(true);
    }
  });

  it("does not fire on a session that has not terminated", () => {
    const scanner = new TerminateScanner();
    expect(scanner.sawTerminate(Buffer.concat([startup(), message("Q", Buffer.from("select 1\0"))]))).toBe(false);
  });
});
