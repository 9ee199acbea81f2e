// What crosses to a pool worker and back: the transfer check's verdicts and paths, and errors
// as data (src/runners/pool-protocol.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { checkTransferable, decodeError, encodeError } from "../../src/runners/pool-protocol.ts";
import { FlowctlError, isFlowctlError } from "../../src/errors.ts";

test("plain data crosses: primitives, Date, RegExp, Map, Set, BigInt, typed arrays, Buffer, errors, cycles", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  for (const v of [1, "s", null, undefined, 10n, new Date(), /x/g, new Map([[1, 2]]), new Set([1]), new Uint8Array(3), Buffer.from("x"),
    new DataView(new ArrayBuffer(2)), new Error("e"), new TypeError("t"), Object.create(null), [1, , 3], cyclic]) {
    assert.equal(checkTransferable(v, "v"), undefined, inspect(v));
  }
});

test("what would not arrive unchanged is named with its path", () => {
  class Point {
    constructor(readonly x: number) {}
  }
  const cases: [unknown, string][] = [
    [{ a: [1, { f: function cb() {} }] }, "`v.a[1].f` is a function (cb)"],
    [{ "odd key": Symbol("s") }, '`v["odd key"]` is a symbol (Symbol(s))'],
    [new Map([["k", new Point(1)]]), "`v<map value 0>` is an instance of Point, which would arrive as a plain object"],
    [new Map([[new Point(1), 1]]), "`v<map key 0>` is an instance of Point, which would arrive as a plain object"],
    [new Set([1, new URL("https://example.invalid/")]), "`v<set item 1>` is an instance of URL, which would arrive as a plain object"],
    [() => 1, "`v` is a function"],
    [{ get boom(): number { throw new Error("nope"); } }, "`v` is unreadable (a getter threw: nope)"],
  ];
  for (const [value, want] of cases) assert.equal(checkTransferable(value, "v"), want);
});

test("errors cross as data: name, message, stack, code, cause and plain fields; non-Errors as themselves", () => {
  const cause = new RangeError("inner");
  const err = Object.assign(new FlowctlError("INVALID_ARGUMENT", "outer", { cause }), { status: 418, callback: () => 1 });
  const back = decodeError(structuredClone(encodeError(err))) as Error & { code?: string; status?: number; callback?: unknown };
  assert.equal(back.name, "FlowctlError");
  assert.equal(back.message, "outer");
  assert.equal(back.stack, err.stack);
  assert.equal(back.status, 418);
  assert.equal(back.callback, undefined, "a field that cannot cross is left out");
  assert.equal((back.cause as Error).name, "RangeError");
  assert.equal((back.cause as Error).message, "inner");
  assert.ok(isFlowctlError(back, "INVALID_ARGUMENT"));

  assert.deepEqual(decodeError(structuredClone(encodeError({ reason: "plain object" }))), { reason: "plain object" });
  assert.equal(decodeError(structuredClone(encodeError("text"))), "text");
  const fn = decodeError(structuredClone(encodeError(function thrownFn() {}))) as Error;
  assert.equal(fn.name, "NonErrorThrown", "a thrown value that cannot cross arrives as the error coerceError makes of it");
});
