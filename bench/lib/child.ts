// What every benchmark child process (server or load generator) shares: its
// parameters arrive as one JSON argument, and it reports on the IPC channel.

/** The JSON parameters given to a child as its last command-line argument. */
export function childParams<T>(): T {
  const raw = process.argv[process.argv.length - 1];
  if (raw === undefined || !raw.startsWith('{')) throw new Error('bench child: expected a JSON parameter argument');
  return JSON.parse(raw) as T;
}

/** Sends one message to the parent (the harness). */
export function report(message: Record<string, unknown>): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(message));
    return;
  }
  process.send(message);
}

/**
 * Sends a child's last message and exits once it is handed to the channel:
 * exiting right after `process.send` may drop the message.
 */
export function reportAndExit(message: Record<string, unknown>): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(message));
    process.exit(0);
  }
  process.send(message, () => process.exit(0));
}

/**
 * Runs `stop` when the parent asks (`{type:'stop'}`), disconnects or sends
 * SIGTERM, then exits. With `--cpu-prof`, a normal exit is what writes the profile.
 */
export function onStop(stop: () => Promise<void> | void): void {
  let stopping = false;
  const run = (): void => {
    if (stopping) return;
    stopping = true;
    Promise.resolve()
      .then(stop)
      .catch((error: unknown) => console.error('bench child: stop failed', error))
      .finally(() => process.exit(0));
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') run();
    // Where the memory is, for the memory scenario's report.
    if (m?.type === 'memory') report({ type: 'memory', ...process.memoryUsage() });
  });
  process.on('disconnect', run);
  process.on('SIGTERM', run);
}
