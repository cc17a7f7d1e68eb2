// One running task per key, shared by every caller that asks for the key while it runs (house
// style 9): the task is registered before its first await and removed when it settles, so a
// caller that comes after that starts a new one.
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  /** Whether a task for `key` is running now (a caller would join it). */
  has(key: string): boolean {
    return this.#running.has(key);
  }

  get size(): number {
    return this.#running.size;
  }

  /** The running task for `key`, or a new one from `task`; `joined` says which. */
  run(key: string, task: () => Promise<T>): { result: Promise<T>; joined: boolean } {
    const running = this.#running.get(key);
    if (running) return { result: running, joined: true };
    // started on the next microtask, so even a task that throws at once is registered first
    const result: Promise<T> = Promise.resolve()
      .then(task)
      .finally(() => {
        if (this.#running.get(key) === result) this.#running.delete(key);
      });
    this.#running.set(key, result);
    return { result, joined: false };
  }
}
