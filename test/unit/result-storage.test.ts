import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { pathToFileURL } from "node:url";
import { ResultStorage, getResultStorage } from "../../src/results/storage.ts";
import { deserializeValue, serializeValue } from "../../src/results/serializer.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { resetSettings } from "../../src/settings/index.ts";

const made: string[] = [];
after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowctl-results-"));
  made.push(dir);
  return dir;
}

function fakeClock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

const meta = { taskName: "fetch", taskKey: "fetch-abc" };

test("serializer round-trips what JSON loses", () => {
  const shared = { s: 1 };
  const value = {
    date: new Date(1234),
    map: new Map<unknown, unknown>([["a", 1], [{ k: 1 }, new Set([1n])]]),
    set: new Set(["x", "y"]),
    big: 2n ** 70n,
    re: /ab+c/gi,
    u8: new Uint8Array([1, 2, 3]),
    f64: new Float64Array([0.5, NaN]),
    i64: new BigInt64Array([-1n]),
    buf: Buffer.from("hello"),
    ab: new Uint16Array([7, 8]).buffer,
    nested: { deep: [{ deeper: [undefined, null, -0, Infinity] }] },
    undef: undefined,
    sparse: [1, , 3],
    boxed: Object("str"),
    err: new TypeError("bad"),
    refs: [shared, shared],
  };
  const back = deserializeValue(serializeValue(value)) as typeof value;
  assert.deepEqual(back, value);
  assert.ok(back.date instanceof Date && back.map instanceof Map && back.set instanceof Set);
  assert.ok(Buffer.isBuffer(back.buf), "a Buffer comes back as a Buffer");
  assert.ok("undef" in back && back.undef === undefined);
  assert.ok(Object.is((back.nested.deep[0]!.deeper as unknown[])[2], -0));
  assert.equal(back.refs[0], back.refs[1], "shared references stay shared");
  assert.ok(back.err instanceof TypeError && back.err.message === "bad");
  for (const top of [undefined, null, 42, "s", 7n, [1, [2]]]) assert.deepEqual(deserializeValue(serializeValue(top)), top);
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  const loopBack = deserializeValue(serializeValue(loop)) as Record<string, unknown>;
  assert.equal(loopBack.self, loopBack);
});

test("serializer refuses what would not come back as it went in", () => {
  class User {
    constructor(public name: string) {}
    greet() {
      return this.name;
    }
  }
  const cases: [unknown, RegExp][] = [
    [{ a: [1, { fn: () => 1 }] }, /result\.a\[1\]\.fn is a function/],
    [Symbol("s"), /result is a symbol/],
    [{ user: new User("x") }, /result\.user is an instance of User/],
    [new URL("https://x.test"), /instance of URL/],
    [new Map([["k", () => 1]]), /result<map value 0> is a function/],
    [Promise.resolve(1), /instance of Promise/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(
      () => serializeValue(value),
      (err: unknown) => isFlowctlError(err, "NOT_SERIALIZABLE") && pattern.test(err.message),
      String(pattern),
    );
  }
});

test("write then read returns the value and its meta", async () => {
  const dir = tempDir();
  const clock = fakeClock();
  const storage = new ResultStorage(path.join(dir, "nested", "storage"), clock.now);
  assert.equal(await storage.read("k1"), undefined, "missing folder is a miss");
  const value = { when: new Date(5), tags: new Set(["a"]), n: 10n };
  await storage.write("k1", value, meta);
  const hit = await storage.read("k1");
  assert.ok(hit);
  assert.deepEqual(hit.value, value);
  assert.deepEqual({ ...hit.meta, size: 0 }, { key: "k1", ...meta, created: clock.t, expires: null, size: 0 });
  assert.equal(hit.meta.size, fs.statSync(storage.fileFor("k1")).size);
  assert.match(path.basename(storage.fileFor("k1")), /^[0-9a-f]{64}\.result$/);
  await storage.write("k1", "replaced", meta);
  assert.equal((await storage.read("k1"))?.value, "replaced");
  assert.equal(await storage.read("k2"), undefined);
  assert.deepEqual(fs.readdirSync(storage.basePath).length, 1, "no temp files left behind");
});

test("entries expire on the injected clock", async () => {
  const clock = fakeClock();
  const storage = new ResultStorage(tempDir(), clock.now);
  await storage.write("short", 1, { ...meta, expiration: 60 });
  await storage.write("forever", 2, meta);
  await storage.write("zero", 3, { ...meta, expiration: 0 });
  assert.equal((await storage.read("short"))?.meta.expires, clock.t + 60_000);
  assert.equal(await storage.read("zero"), undefined, "expiration 0 is never a hit");
  clock.t += 59_999;
  assert.equal((await storage.read("short"))?.value, 1);
  clock.t += 1;
  assert.equal(await storage.read("short"), undefined);
  clock.t += 10 ** 12;
  assert.equal((await storage.read("forever"))?.value, 2);
});

test("a bad expiration or an unserialisable value throws and writes nothing", async () => {
  const storage = new ResultStorage(tempDir(), fakeClock().now);
  await assert.rejects(storage.write("k", 1, { ...meta, expiration: -1 }), (e) => isFlowctlError(e, "INVALID_ARGUMENT"));
  await assert.rejects(storage.write("k", { f() {} }, meta), (e) => isFlowctlError(e, "NOT_SERIALIZABLE"));
  assert.equal(fs.existsSync(storage.basePath) ? fs.readdirSync(storage.basePath).length : 0, 0);
});

test("corrupt, truncated, foreign and unreadable entries are misses", async () => {
  const storage = new ResultStorage(tempDir(), fakeClock().now);
  const write = async (key: string) => {
    await storage.write(key, { payload: "x".repeat(1000) }, meta);
    return storage.fileFor(key);
  };
  fs.writeFileSync(await write("garbage"), "not an entry at all");
  fs.writeFileSync(await write("empty"), "");
  const cut = await write("truncated");
  fs.truncateSync(cut, fs.statSync(cut).size - 10);
  const header = await write("header-only");
  fs.truncateSync(header, 20);
  const flipped = await write("flipped");
  const bytes = fs.readFileSync(flipped);
  const at = bytes.length - 5;
  bytes[at] = bytes[at]! ^ 0xff;
  fs.writeFileSync(flipped, bytes);
  // a valid entry for another key under this key's name (e.g. copied by hand)
  fs.copyFileSync(await write("other"), await write("foreign"));
  const dirInstead = storage.fileFor("a-directory");
  fs.mkdirSync(dirInstead);

  for (const key of ["garbage", "empty", "truncated", "header-only", "flipped", "foreign", "a-directory"]) {
    assert.equal(await storage.read(key), undefined, key);
  }
  assert.ok(await storage.read("other"));
  // list reads headers and meta only, so it skips the broken files but not a flipped payload byte
  assert.deepEqual((await storage.list()).map((m) => m.key), ["flipped", "other"]);
});

test("list and clear by task name and expiry", async () => {
  const clock = fakeClock();
  const storage = new ResultStorage(tempDir(), clock.now);
  assert.deepEqual(await storage.list(), []);
  assert.equal(await storage.clear(), 0);
  await storage.write("a1", 1, { taskName: "a", taskKey: "a-1", expiration: 10 });
  clock.t += 1;
  await storage.write("a2", 2, { taskName: "a", taskKey: "a-1" });
  clock.t += 1;
  await storage.write("b1", 3, { taskName: "b", taskKey: "b-1", expiration: 10 });
  fs.writeFileSync(storage.fileFor("broken"), "junk");

  const listed = await storage.list();
  assert.deepEqual(listed.map((m) => [m.key, m.taskName, m.expires]), [
    ["a1", "a", 1_010_000],
    ["a2", "a", null],
    ["b1", "b", 1_010_002],
  ]);
  assert.ok(listed.every((m) => m.size > 0 && m.taskKey.endsWith("-1")));

  clock.t = 1_010_001; // a1 expired, b1 not yet
  assert.equal(await storage.clear({ expiredOnly: true, taskName: "b" }), 0);
  assert.equal(await storage.clear({ expiredOnly: true }), 2, "a1 and the unreadable file");
  assert.deepEqual((await storage.list()).map((m) => m.key), ["a2", "b1"]);
  assert.equal(await storage.clear({ taskName: "a" }), 1);
  assert.deepEqual((await storage.list()).map((m) => m.key), ["b1"]);
  assert.equal(await storage.clear(), 1);
  assert.deepEqual(fs.readdirSync(storage.basePath), []);
});

test("clear removes stale temp files of crashed writers, not fresh ones", async () => {
  const storage = new ResultStorage(tempDir());
  fs.mkdirSync(storage.basePath, { recursive: true });
  const stale = path.join(storage.basePath, "abc.result.1.ff.tmp");
  const fresh = path.join(storage.basePath, "abc.result.2.ee.tmp");
  fs.writeFileSync(stale, "x");
  fs.writeFileSync(fresh, "x");
  const old = new Date(Date.now() - 3600_000);
  fs.utimesSync(stale, old, old);
  assert.equal(await storage.clear(), 0, "temp files are not counted as entries");
  assert.deepEqual(fs.readdirSync(storage.basePath), [path.basename(fresh)]);
});

test("many parallel writes of one key leave one valid entry", async () => {
  const storage = new ResultStorage(tempDir());
  const values = Array.from({ length: 50 }, (_, i) => ({ writer: i, data: new Array(500).fill(i) }));
  await Promise.all(values.map((v) => storage.write("same", v, meta)));
  const hit = await storage.read("same");
  assert.ok(hit);
  assert.deepEqual(hit.value, values[(hit.value as { writer: number }).writer]);
  assert.deepEqual(fs.readdirSync(storage.basePath).length, 1);
});

test("two processes writing one key at once leave one valid entry; readers never see a torn one", async () => {
  const dir = tempDir();
  const storageUrl = pathToFileURL(path.resolve("src/results/storage.ts")).href;
  const script = path.join(dir, "writer.mjs");
  fs.writeFileSync(
    script,
    `import { ResultStorage } from ${JSON.stringify(storageUrl)};
const [base, id] = process.argv.slice(2);
const s = new ResultStorage(base);
for (let i = 0; i < 150; i++) {
  await s.write("shared", { id, i, blob: "x".repeat(20000 + i) }, { taskName: "t", taskKey: "t-1" });
}`,
  );
  const base = path.join(dir, "storage");
  const storage = new ResultStorage(base);
  const children = ["A", "B"].map((id) =>
    spawn(process.execPath, ["--import", "tsx", script, base, id], { stdio: ["ignore", "ignore", "inherit"] }),
  );
  const exits = Promise.all(children.map((c) => once(c, "exit")));
  let done = false;
  void exits.then(() => (done = true));
  while (!done) {
    const hit = await storage.read("shared");
    if (hit) {
      const v = hit.value as { id: string; i: number; blob: string };
      assert.ok(v.id === "A" || v.id === "B");
      assert.equal(v.blob.length, 20000 + v.i);
    }
    await new Promise((r) => setImmediate(r));
  }
  for (const [code] of await exits) assert.equal(code, 0);
  const final = await storage.read("shared");
  assert.ok(final, "a valid entry remains");
  assert.equal((final.value as { i: number }).i, 149);
  assert.deepEqual(fs.readdirSync(base).filter((n) => n.endsWith(".result")).length, 1);
  assert.deepEqual(fs.readdirSync(base).filter((n) => n.endsWith(".tmp")), []);
});

test("getResultStorage uses PREFECT_LOCAL_STORAGE_PATH, one instance per path", () => {
  const saved = { home: process.env.PREFECT_HOME, path: process.env.PREFECT_LOCAL_STORAGE_PATH };
  const dir = tempDir();
  try {
    process.env.PREFECT_HOME = dir;
    process.env.PREFECT_LOCAL_STORAGE_PATH = path.join(dir, "one");
    resetSettings();
    const one = getResultStorage();
    assert.equal(one.basePath, path.join(dir, "one"));
    assert.equal(getResultStorage(), one);
    process.env.PREFECT_LOCAL_STORAGE_PATH = path.join(dir, "two");
    resetSettings();
    assert.equal(getResultStorage().basePath, path.join(dir, "two"));
  } finally {
    for (const [k, v] of [["PREFECT_HOME", saved.home], ["PREFECT_LOCAL_STORAGE_PATH", saved.path]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetSettings();
  }
});
