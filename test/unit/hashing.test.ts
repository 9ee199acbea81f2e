import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { PassThrough } from "node:stream";
import { stableHash, stableSerialize, UnhashableError } from "../../src/results/hashing.ts";

function unhashable(value: unknown, path?: string): UnhashableError {
  try {
    stableSerialize(value, path);
  } catch (err) {
    assert.ok(err instanceof UnhashableError, `expected UnhashableError, got ${String(err)}`);
    assert.equal(err.code, "NOT_SERIALIZABLE");
    return err;
  }
  assert.fail("expected stableSerialize to throw");
}

test("object key order does not matter, at any depth", () => {
  const a = { x: 1, y: { p: [1, 2], q: "s" } };
  const b = { y: { q: "s", p: [1, 2] }, x: 1 };
  assert.equal(stableHash(a), stableHash(b));
  assert.notEqual(stableHash({ x: 1 }), stableHash({ x: 2 }));
  assert.notEqual(stableHash([1, 2]), stableHash([2, 1]));
});

test("the hash is hex sha256", () => {
  assert.match(stableHash({ a: 1 }), /^[0-9a-f]{64}$/);
});

test("primitives keep their type and odd values", () => {
  const values = [undefined, null, 0, -0, NaN, Infinity, "1", 1, 1n, true, "true", ""];
  const hashes = new Set(values.map((v) => stableHash(v)));
  assert.equal(hashes.size, values.length);
  assert.notEqual(stableHash({ a: undefined }), stableHash({}));
  assert.equal(stableHash(NaN), stableHash(Number.NaN));
});

test("Dates, Maps, Sets, BigInts and binary data hash by value", () => {
  assert.equal(stableHash(new Date(5)), stableHash(new Date(5)));
  assert.notEqual(stableHash(new Date(5)), stableHash(new Date(6)));
  assert.notEqual(stableHash(new Date(5)), stableHash(5));

  assert.equal(stableHash(new Map([["a", 1], ["b", 2]])), stableHash(new Map([["b", 2], ["a", 1]])));
  assert.notEqual(stableHash(new Map([["a", 1]])), stableHash(new Map([["a", 2]])));
  assert.notEqual(stableHash(new Map([["a", 1]])), stableHash({ a: 1 }));
  assert.equal(stableHash(new Map([[{ k: 1 }, "v"]])), stableHash(new Map([[{ k: 1 }, "v"]])));

  assert.equal(stableHash(new Set([1, 2, 3])), stableHash(new Set([3, 1, 2])));
  assert.notEqual(stableHash(new Set([1, 2])), stableHash([1, 2]));

  assert.equal(stableHash(10n ** 30n), stableHash(BigInt("1" + "0".repeat(30))));
  assert.notEqual(stableHash(1n), stableHash(1));

  assert.equal(stableHash(new Uint8Array([1, 2])), stableHash(new Uint8Array([1, 2])));
  assert.notEqual(stableHash(new Uint8Array([1, 2])), stableHash(new Uint8Array([1, 3])));
  assert.notEqual(stableHash(new Uint8Array([1, 0])), stableHash(new Uint16Array([1])));
  assert.equal(stableHash(new Float64Array([1.5]).buffer), stableHash(new Float64Array([1.5]).buffer));
  const big = new Uint8Array([9, 1, 2, 9]);
  assert.equal(stableHash(big.subarray(1, 3)), stableHash(new Uint8Array([1, 2])), "views hash their own bytes");
  assert.equal(stableHash(Buffer.from("hi")), stableHash(Buffer.from("hi")));
});

test("RegExp, URL, boxed primitives and class instances hash by value", () => {
  assert.equal(stableHash(/a+/g), stableHash(/a+/g));
  assert.notEqual(stableHash(/a+/g), stableHash(/a+/i));
  assert.equal(stableHash(new URL("https://x.test/a")), stableHash(new URL("https://x.test/a")));
  assert.notEqual(stableHash(Object(1)), stableHash(1));
  assert.equal(stableHash(Object("s")), stableHash(Object("s")));

  class Point {
    constructor(
      public x: number,
      public y: number,
    ) {}
  }
  class Other {
    constructor(
      public x: number,
      public y: number,
    ) {}
  }
  assert.equal(stableHash(new Point(1, 2)), stableHash(new Point(1, 2)));
  assert.notEqual(stableHash(new Point(1, 2)), stableHash(new Point(2, 1)));
  assert.notEqual(stableHash(new Point(1, 2)), stableHash(new Other(1, 2)));
  assert.notEqual(stableHash(new Point(1, 2)), stableHash({ x: 1, y: 2 }));

  class Money {
    #cents: number;
    constructor(cents: number) {
      this.#cents = cents;
    }
    toJSON() {
      return { cents: this.#cents };
    }
  }
  assert.notEqual(stableHash(new Money(1)), stableHash(new Money(2)), "toJSON() is the value");
  assert.equal(stableHash(new Error("x")), stableHash(new Error("x")));
  assert.notEqual(stableHash(new Error("x")), stableHash(new Error("y")));
});

test("shared (non-circular) references are fine", () => {
  const shared = { v: 1 };
  assert.doesNotThrow(() => stableHash({ a: shared, b: shared, c: [shared, shared] }));
});

test("functions and symbols are unhashable, with the path", () => {
  const err = unhashable({ items: [1, 2, { fn: () => 1 }] }, "params");
  assert.equal(err.path, "params.items[2].fn");
  assert.match(err.message, /params\.items\[2\]\.fn is a function/);
  assert.equal(unhashable({ "odd key": Symbol("s") }, "p").path, 'p["odd key"]');
});

test("circular structures are unhashable, with the path", () => {
  const a: Record<string, unknown> = { n: 1 };
  a.self = { back: a };
  const err = unhashable(a, "cfg");
  assert.equal(err.path, "cfg.self.back");
  assert.match(err.reason, /circular/);
  const m = new Map<string, unknown>();
  m.set("me", m);
  assert.equal(unhashable(m, "m").path, 'm.get("me")');
});

test("resources (sockets, streams, promises, weak maps, generators) are unhashable", () => {
  const socket = new net.Socket();
  try {
    const err = unhashable({ conn: socket }, "args");
    assert.equal(err.path, "args.conn");
    assert.match(err.reason, /EventEmitter/);
  } finally {
    socket.destroy();
  }
  assert.match(unhashable(new PassThrough()).reason, /EventEmitter/);
  assert.match(unhashable(Promise.resolve(1)).reason, /Promise/);
  assert.match(unhashable(new WeakMap()).reason, /WeakMap/);
  assert.match(unhashable(new AbortController().signal).reason, /EventTarget/);
  assert.match(unhashable((function* () {})()).reason, /iterator or generator/);
  assert.match(unhashable(new Map([[1, 2]]).keys()).reason, /iterator/);
});

test("class instances with no visible state are unhashable rather than all alike", () => {
  class Secret {
    #v = 1;
    get v() {
      return this.#v;
    }
  }
  assert.match(unhashable(new Secret()).reason, /instance of Secret with no enumerable data/);
});

test("a getter that throws is reported, not propagated raw", () => {
  const obj = {
    get bad(): number {
      throw new Error("nope");
    },
  };
  const err = unhashable(obj, "o");
  assert.match(err.message, /threw when read \(nope\)/);
});

test("very deep nesting is reported as unhashable", () => {
  let deep: unknown = 0;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.match(unhashable(deep).reason, /nested too deeply/);
});
