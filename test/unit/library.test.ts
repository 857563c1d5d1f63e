/**
 * The package's public API (src/library/index.ts) as a user's compiler sees it: its declarations
 * are the block under "## API" in docs/library.md, and its runtime exports are runElection alone,
 * so that a change to either is a decision made in both places, never an accident.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import ts from "typescript";
import { syncDocBlocks } from "../support/docs.ts";

const SOURCE = new URL("../../src/library/index.ts", import.meta.url);

test("the library's declarations are the API that docs/library.md lists", async () => {
  const { outputText, diagnostics } = ts.transpileDeclaration(await readFile(SOURCE, "utf8"), { fileName: "index.ts", reportDiagnostics: true });
  assert.deepEqual(
    (diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    [],
  );
  await syncDocBlocks("library.md", "ts", { "## API": outputText.trim() });
});

test("the library exports runElection and nothing else at run time", async () => {
  const exported = await import("../../src/library/index.ts");
  assert.deepEqual(Object.keys(exported), ["runElection"]);
  assert.equal(typeof exported.runElection, "function");
});
