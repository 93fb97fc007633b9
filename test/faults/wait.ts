// Waiting in fault tests: on a condition, never a fixed sleep, and every wait has a budget that
// says what it was waiting for when it runs out.

/** Polls `check` until it returns something other than undefined or false; throws after `budgetMs` naming `what`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, budgetMs: number, pollMs = 20): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - started >= budgetMs) throw new Error(`waited ${budgetMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** `promise`, or an error naming `what` once `budgetMs` have passed. */
export async function within<T>(what: string, promise: Promise<T>, budgetMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`waited ${budgetMs} ms for ${what}`)), budgetMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long `promise` took to settle, and how: for asserting that a failure came within its budget. */
export async function timed<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await promise;
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}
