/**
 * Time, injected so the election core can be tested deterministically. Expiry decisions use the
 * monotonic clock only (a leader frozen and resumed sees all the time that passed; NTP steps do
 * not move it); the wall clock only stamps the times written into records.
 */

export interface Clock {
  /** Wall-clock time, for acquireTime and renewTime. */
  wall(): Date;
  /** Milliseconds since an arbitrary origin; never goes backwards. */
  monotonic(): number;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  wall: () => new Date(),
  monotonic: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, Math.max(0, ms));
    return () => {
      clearTimeout(timer);
    };
  },
};
