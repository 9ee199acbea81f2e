// The seed's run-name functions: a task run named from the run being named (runtime.taskRun)
// and its flow run (runtime.flowRun).
//   npx flowctl run workflows/task_run_names.ts --param name=Marvin
//   npx tsx workflows/task_run_names.ts
import { flow, isMain, runtime, task } from "flowctl";

function generateTaskName(): string {
  const flowName = runtime.flowRun.flowName;
  const taskName = runtime.taskRun.taskName;
  const { name, limit } = runtime.taskRun.parameters;
  return `${flowName}-${taskName}-with-${name}-and-${limit}`;
}

const myTask = task(
  { name: "my-example-task", description: "An example task for a tutorial.", taskRunName: generateTaskName },
  function myTask(name: string, limit = 100) {
    return `${name} (limit ${limit})`;
  },
);

function lovelyDay(): string {
  const day = new Date().toLocaleDateString("en-US", { weekday: "long", timeZone: "UTC" });
  return `${day}-is-a-lovely-day`;
}

const dayTask = task({ name: "My Example Task", description: "An example task for the docs.", taskRunName: lovelyDay }, function dayTask(name: string) {
  return name;
});

export const myFlow = flow(async function myFlow(name = "marvin") {
  // creates a run named "my-flow-my-example-task-with-marvin-and-100"
  await myTask(name);
  // creates a run with a name like "Thursday-is-a-lovely-day"
  await dayTask(name);
  return runtime.flowRun.name;
});

if (isMain(import.meta)) {
  await myFlow();
}
