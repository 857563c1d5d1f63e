/**
 * Lock records with garbage in every field (seeded: ELECTOR_SEED replays a run), as a hostile or
 * broken client could write them: into the legacy annotation any text at all, into a Lease spec
 * any JSON value per field. Each reads as a record of well-formed fields (what the API server's
 * types would hold) or as a MalformedRecordError with one line; recordProblem then says whether
 * it can be honoured. Nothing throws anything else.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  annotationToRecord,
  leaseSpecToRecord,
  MalformedRecordError,
  MAX_TRANSITIONS,
  recordProblem,
  type LeaderElectionRecord,
} from "../../src/election/record.ts";
import { Random, runSeed } from "../support/random.ts";

const FIELDS = ["holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaderTransitions", "leaseTransitions"];

function garbage(r: Random, depth = 0): unknown {
  const choices: (() => unknown)[] = [
    () => null,
    () => r.chance(0.5),
    () => r.below(2 ** 31) * (r.chance(0.5) ? -1 : 1),
    () => r.next() * 1e20,
    () => Number.MAX_SAFE_INTEGER + r.below(10),
    () => 2 ** 31 - 1,
    () => "x".repeat(r.below(20_000)),
    () => r.pick(["", "now", "0001-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "2026-12-06T10:00:00.123456Z", "1e400", "NaN", "-0", "\u0000\n"]),
    () => new Date(r.below(2 ** 42) * (r.chance(0.5) ? -1 : 1)).toISOString(),
    () => (depth < 2 ? Array.from({ length: r.below(4) }, () => garbage(r, depth + 1)) : []),
    () => (depth < 2 ? { [r.pick(FIELDS)]: garbage(r, depth + 1) } : {}),
  ];
  return r.pick(choices)();
}

function wellFormed(record: LeaderElectionRecord): void {
  assert.equal(typeof record.holderIdentity, "string");
  assert.ok(Number.isInteger(record.leaseDurationSeconds), String(record.leaseDurationSeconds));
  assert.ok(Number.isInteger(record.leaderTransitions), String(record.leaderTransitions));
  for (const time of [record.acquireTime, record.renewTime]) assert.ok(time === undefined || !Number.isNaN(time.getTime()));
  const problem = recordProblem(record);
  assert.ok(problem === undefined || (typeof problem === "string" && !problem.includes("\n")));
  // A record honoured as held names a lease and a count that a Lease could hold, so that a token can rise above it.
  if (record.holderIdentity !== "" && problem === undefined) assert.ok(record.leaderTransitions <= MAX_TRANSITIONS && record.leaseDurationSeconds <= 86_400);
}

test("2,000 lock records with garbage in every field read as well-formed records or one-line MalformedRecordErrors", () => {
  const seed = runSeed(20261206);
  const r = new Random(seed);
  const outcomes = { records: 0, malformed: 0, refused: 0 };
  for (let i = 0; i < 2000; i++) {
    const fields = Object.fromEntries(FIELDS.filter(() => r.chance(0.8)).map((f) => [f, garbage(r)]));
    const text = r.chance(0.2) ? String(garbage(r)) : JSON.stringify(r.chance(0.1) ? garbage(r) : fields);
    const context = `seed ${String(seed)}, record ${String(i)}: ${text.slice(0, 120)}`;
    try {
      const record = annotationToRecord(text);
      wellFormed(record);
      outcomes.records++;
      if (recordProblem(record)) outcomes.refused++;
    } catch (err) {
      assert.ok(err instanceof MalformedRecordError, `${context}: ${String(err)}`);
      assert.ok(!err.message.includes("\n"), context);
      outcomes.malformed++;
    }
    wellFormed(leaseSpecToRecord(fields));
  }
  // The generator reaches all three outcomes, or the test would prove less than it says.
  for (const [outcome, count] of Object.entries(outcomes)) assert.ok(count > 50, `${outcome}: ${String(count)}`);
});
