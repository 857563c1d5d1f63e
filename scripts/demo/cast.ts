/**
 * What the demo shows is played by a cast: real pods on the node (pods.ts), or, where no node can
 * run, agents as processes posing as pods (processes.ts). The demo itself (../demo.ts) draws the
 * view, takes turns at the faults and times each handover; a cast sets the scene up, looks at it,
 * and carries out a fault.
 */
export interface Look {
  /** Each pod's line: the agent's answer to GET /, or what it is doing meanwhile. */
  pods: [string, string][];
  /** Where the routing stands, in one line. */
  route: string;
  /** The pod that says it leads while every route points at it, if there is one. */
  routedLeader: string | undefined;
}

export interface Fault {
  /** A short name for the summary: "delete pod", "SIGTERM", … */
  name: string;
  /** What happens to the leader, as a sentence's end. */
  explain: string;
  /** The lease has to run out (no release): timed in seconds. */
  crash: boolean;
}

export interface Cast {
  namespace: string;
  /** The Lease of the election: the demo watches it to time each handover. */
  lease: string;
  /** The lease timing, for the header. */
  timing: string;
  /** What was set up, for the first line. */
  scene: string;
  setUp(): Promise<void>;
  look(): Promise<Look>;
  /** The faults the rounds take in turn. */
  faults: Fault[];
  inflict(fault: Fault, leader: string): Promise<void>;
  /** Brings the old leader back once the handover is timed (a cast whose pods do not come back by themselves). */
  recover?(leader: string): Promise<void>;
  /**
   * Resolves once the traffic a Service carries comes from `holder` (only a cast with real
   * traffic); fails after `timeoutMs`.
   */
  servedBy?(holder: string, timeoutMs: number): Promise<void>;
  tearDown(): Promise<void>;
}
