/**
 * The one rule behind every "has this lease expired?" in elector, the agent's and the operator's
 * alike (client-go's; SPEC §2): a held record stays live until its holder's leaseDurationSeconds
 * have passed since this process last saw the record change, on this process's own clock. The
 * times written inside the record are never compared with the local clock.
 */

/** How much longer the record stays live (> 0: live; ≤ 0: expired, or nobody holds it). */
export function liveForMs(record: { holderIdentity: string; leaseDurationSeconds: number }, unchangedForMs: number): number {
  if (record.holderIdentity === "") return 0;
  return record.leaseDurationSeconds * 1000 - unchangedForMs;
}
