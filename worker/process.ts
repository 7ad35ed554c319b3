/**
 * How the worker's process is started, the same by npm start (scripts/start.ts), the benchmark (bench/main.ts) and
 * the tests (test/setup/worker-process.ts): Node's flags and environment, for its memory.
 *
 * Where a parked runbook's memory went: not to the main thread's JS heap (it grew 8 KiB per runbook) but to the
 * workflow thread's, which process.memoryUsage() does not show (the SDK runs all runbook code in one worker thread
 * with a V8 heap of its own; smaps: 625 MiB of V8 pages with 1000 parked). It is garbage, not live runbooks (the
 * cache keeps 50): each runbook the worker starts or replays runs the bundle's modules again in the reusable context
 * (common/inputs.ts's zod schemas were ~75 % of that time in a CPU profile, until they were built on first use:
 * common/validation.ts `deferred`), and V8 collects it lazily under its default limit of a quarter of RAM: after a
 * collection the same 1000 parked held ~120 MiB of V8 pages.
 * npm run bench -- --parked 300, 2 shared cores (worker CPU per runbook started; RSS with all parked):
 *   defaults 22 ms, 550 MiB; semi-spaces 4 MiB 21 ms, 560 MiB; old space 256 MiB 30 ms, 431 MiB;
 *   both 37 ms, 377 MiB; --optimize-for-size with 2 MiB semi-spaces 49-61 ms, 315 MiB.
 * (Those figures are from before the schemas were deferred; since, 1000 parked hold ~307 MiB with both bounds, at
 * ~16 ms of worker CPU per runbook: bench/results/2026-11-24T21-42-57-468Z.md.)
 * A bound, then, at some CPU per start: 256 MiB is twice what both heaps hold live after a collection with 50
 * runbooks cached; a thread that still ran out would stop the worker, and npm start's supervisor restarts it.
 */
export const WORKER_NODE_FLAGS: readonly string[] = [
  // Each V8 heap (main thread, workflow thread) collects old garbage before it passes 256 MiB.
  '--max-old-space-size=256',
  // New objects' space per thread: 4 MiB semi-spaces instead of up to 16 (a runbook's objects are small).
  '--max-semi-space-size=4',
];

/** glibc's malloc: 2 arenas instead of up to 8 per core for the Rust core's threads (set in every run above). */
export const WORKER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
