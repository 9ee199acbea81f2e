/** A task that returns a generator has it consumed: its result is the array of values. */
export async function consumeIfGenerator(v: unknown): Promise<unknown> {
  if (typeof v !== "object" || v === null) return v;
  const tag = Object.prototype.toString.call(v);
  if (tag === "[object Generator]") return Array.from(v as Iterable<unknown>);
  if (tag === "[object AsyncGenerator]") {
    const out: unknown[] = [];
    for await (const x of v as AsyncIterable<unknown>) out.push(x);
    return out;
  }
  return v;
}
