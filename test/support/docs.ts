/** Blocks of docs/ that tests keep equal to what the code or the cluster says. */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/**
 * The first fenced block of `lang` under each heading line of docs/`name` (`"#### title"`) is
 * `blocks[heading]`: fails naming the difference, or with ELECTOR_WRITE_DOCS=1 writes the doc so
 * (then review and commit it).
 */
export async function syncDocBlocks(name: string, lang: string, blocks: Record<string, string>): Promise<void> {
  const path = fileURLToPath(new URL(`../../docs/${name}`, import.meta.url));
  let doc = await readFile(path, "utf8");
  for (const [heading, text] of Object.entries(blocks)) {
    const under = doc.indexOf(`\n${heading}\n`);
    const opening = `\n\`\`\`${lang}\n`;
    const start = under < 0 ? -1 : doc.indexOf(opening, under);
    assert.ok(start >= 0, `docs/${name} has no "${heading}" followed by a ${lang} block`);
    const from = start + opening.length;
    const to = from + (/^```$/m.exec(doc.slice(from))?.index ?? 0);
    if (process.env.ELECTOR_WRITE_DOCS === "1") doc = `${doc.slice(0, from)}${text}\n${doc.slice(to)}`;
    else assert.equal(doc.slice(from, to), `${text}\n`, `docs/${name}, "${heading}": not what it describes (ELECTOR_WRITE_DOCS=1 rewrites it)`);
  }
  if (process.env.ELECTOR_WRITE_DOCS === "1") await writeFile(path, doc);
}
