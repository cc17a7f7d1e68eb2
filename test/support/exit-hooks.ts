// Last-resort cleanup when a test worker ends without running its afterAll hooks.
// vitest ends fork workers with SIGTERM (no "exit" event by default), so while hooks are
// registered we also catch SIGTERM/SIGINT, run them, then exit with the usual 128+n code.
// Hooks run last-in first-out (processes die before their directories go) and must be
// synchronous: nothing asynchronous runs after "exit".

type Hook = () => void;

const hooks = new Set<Hook>();
let installed = false;

function runHooks(): void {
  for (const hook of [...hooks].reverse()) {
    hooks.delete(hook);
    try {
      hook();
    } catch {
      // best effort: one failing hook must not stop the others
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runHooks();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runHooks);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

function uninstall(): void {
  if (!installed || hooks.size > 0) return;
  installed = false;
  process.off("exit", runHooks);
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
}

/** Registers a synchronous cleanup; returns a function that unregisters it (call it once cleaned up). */
export function addExitHook(hook: Hook): () => void {
  hooks.add(hook);
  install();
  return () => {
    hooks.delete(hook);
    uninstall();
  };
}
