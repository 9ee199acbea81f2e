/** Why dist/ cannot be used (one line), or undefined when it is up to date. */
export function distProblem(root?: string): string | undefined;
