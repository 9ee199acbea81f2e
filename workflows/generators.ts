// The seed's generator examples: a generator task feeding a consumer task, a task that returns
// a generator (consumed, its values become the result) and one that yields a generator (handed
// over unconsumed).
//
//   npx flowctl run workflows/generators.ts
//   npx tsx workflows/generators.ts
import { flow, isMain, task } from "flowctl";

// Running while it yields, Completed once exhausted; `generator()` returns an async iterable.
export const generator = task(function* generator() {
  for (let i = 0; i < 10; i++) yield i;
});

// Called with a value the generator yielded, its run records the generator run as its parent.
export const consumer = task(function consumer(x: number) {
  console.log(x);
});

function* gen() {
  yield* [1, 2, 3];
  console.log("Generator consumed!");
}

// Returning a generator: the task consumes it (prints 'Generator consumed!'); the result is [1, 2, 3].
export const f = task(function f() {
  return gen();
});

// Yielding a generator: it is handed over as it is; whoever iterates it consumes it.
export const g = task(function* g() {
  yield gen();
});

export const generators = flow({ logPrints: true }, async function generators() {
  for await (const val of generator()) {
    await consumer(val);
  }

  const values = await f(); // prints 'Generator consumed!'
  console.log(`f() returned ${JSON.stringify(values)}`);

  const it = g();
  const { value: handedOver } = await it.next();
  await it.return(undefined); // done with g: its run completes
  console.log(`g() yielded a generator: ${JSON.stringify([...(handedOver as Generator<number>)])}`); // prints 'Generator consumed!' first
});

if (isMain(import.meta)) {
  await generators();
}
