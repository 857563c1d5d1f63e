/** The wrapped command: started, signalled and stopped as one child process. */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

export interface Exit {
  /** The shell convention: the exit code, or 128 + the signal number when killed by a signal. */
  code: number;
  description: string;
}

export class Child {
  private readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  private done = false;

  constructor(command: string[], env: NodeJS.ProcessEnv) {
    const [file, ...args] = command;
    if (file === undefined) throw new Error("no command to run");
    this.process = spawn(file, args, { stdio: "inherit", env });
    this.exited = new Promise((resolve) => {
      this.process.once("error", (err) => {
        this.done = true;
        resolve({ code: 127, description: `could not start ${file}: ${err.message}` });
      });
      this.process.once("exit", (code, signal) => {
        this.done = true;
        const number = signal ? ((constants.signals[signal] as number | undefined) ?? 0) : 0;
        resolve(signal ? { code: 128 + number, description: `killed by ${signal}` } : { code: code ?? 0, description: `exited with code ${code ?? 0}` });
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.done) this.process.kill(signal);
  }

  /** SIGTERM, then SIGKILL once `graceMs` has passed; resolves when the process is gone. */
  async stop(graceMs: number): Promise<Exit> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => {
      this.signal("SIGKILL");
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
