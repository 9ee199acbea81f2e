// The seed's class-method example: methods become tasks with the standard `@task` decorator —
// instance methods, and static methods (Python's class methods and static methods alike), sync,
// async or generator — and `this` is what it would be without the decorator. `@flow` works the
// same way. (Standard decorators: no `experimentalDecorators` needed.)
//
//   npx flowctl run workflows/class_methods.ts
//   npx tsx workflows/class_methods.ts
//
// TypeScript keeps a decorated method's declared type, so declare the methods you `await` as
// `async`; a decorated sync method also returns a promise when called.
import { flow, isMain, task } from "flowctl";

export class MyClass {
  static created = 0;

  constructor(readonly label: string) {
    MyClass.created++;
  }

  @task
  myInstanceMethod() {
    console.log(`instance method of '${this.label}'`);
    return this.label;
  }

  // Python's @classmethod: `this` is the class (or the subclass it was called on)
  @task
  static myClassMethod() {
    console.log(`class method of ${this.name}: ${this.created} object(s) made so far`);
  }

  @task({ name: "my-static-method", tags: ["static"] })
  static myStaticMethod() {
    console.log("static method: no `this` needed");
  }

  @task({ retries: 1, retryDelaySeconds: 0 })
  async fetchGreeting(name: string) {
    await new Promise((r) => setTimeout(r, 10));
    return `${this.label} says hello to ${name}`;
  }

  @task
  *letters() {
    yield* this.label;
  }

  // a flow method: the tasks it calls through `this` belong to its run
  @flow({ logPrints: true })
  async summary() {
    const greeting = await this.fetchGreeting("Marvin");
    const letters: string[] = [];
    for await (const l of this.letters()) letters.push(l);
    console.log(`${greeting}; spelled ${letters.join(",")}`);
    return letters.length;
  }
}

export const classMethods = flow({ logPrints: true }, async function classMethods() {
  const obj = new MyClass("my-object");
  await obj.myInstanceMethod();
  await MyClass.myClassMethod();
  await MyClass.myStaticMethod();
  const n = await obj.summary(); // a subflow run
  console.log(`summary() counted ${n} letters`);
});

if (isMain(import.meta)) {
  await classMethods();
}
