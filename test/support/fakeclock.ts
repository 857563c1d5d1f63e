/** A manual clock for the election core's unit tests: time moves only when a test moves it. */
import { setImmediate as yieldToPromises } from "node:timers/promises";
import type { Clock } from "../../src/election/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private nowMs = 0;
  private seq = 0;
  private timers: Timer[] = [];
  private readonly epoch = Date.parse("2026-01-01T00:00:00Z");

  wall(): Date {
    return new Date(this.epoch + this.nowMs);
  }

  monotonic(): number {
    return this.nowMs;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.nowMs + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Lets pending promise chains run, as the event loop would between timers. */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await yieldToPromises();
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    await this.settle();
    for (;;) {
      const next = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.nowMs = Math.max(this.nowMs, next.at);
      next.fn();
      await this.settle();
    }
    this.nowMs = until;
    await this.settle();
  }

  /** Moves time forward without firing timers: what a process sees when resumed after SIGSTOP. */
  jump(ms: number): void {
    this.nowMs += ms;
  }
}
