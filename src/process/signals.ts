/** What both commands share as processes: the signals that end them, and the exit code for lost leadership. */

/** Exit code of a command whose leadership ended other than by its own choice (so that it restarts clean). */
export const EXIT_LOST_LEADERSHIP = 1;

/** Calls `handler` on SIGTERM and SIGINT, the signals that end both commands; returns the way to stop. */
export function onTerminationSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return () => {
    process.off("SIGTERM", handler);
    process.off("SIGINT", handler);
  };
}
