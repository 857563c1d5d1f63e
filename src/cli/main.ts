#!/usr/bin/env node
/** The `elector` command. */
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

function main(argv: string[]): number {
  const [command] = argv;
  switch (command) {
    case "version":
      console.log(`elector ${pkg.version}`);
      return 0;
    default:
      console.error(`usage: elector version${command ? ` (unknown command "${command}")` : ""}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
