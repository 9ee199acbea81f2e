// The smallest workflow: one flow, two tasks, one of them nested.
//   npx flowctl run workflows/hello.ts --param name=Marvin
//   npx tsx workflows/hello.ts
import { flow, isMain, task } from "flowctl";

const shout = task(function shout(text: string) {
  return text.toUpperCase();
});

const greet = task({ tags: ["greeting"] }, async function greet(name: string) {
  return `${await shout("hello")}, ${name}!`;
});

export const hello = flow({ logPrints: true }, async function hello({ name = "world" }: { name?: string } = {}) {
  const message = await greet(name);
  console.log(message);
  return message;
});

if (isMain(import.meta)) {
  await hello();
}
