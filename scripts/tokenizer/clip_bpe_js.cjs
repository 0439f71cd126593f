// Encodes every string of a JSON corpus with the npm package clip-bpe-js,
// used by trak as an independent oracle for its CLIP tokenizer.
// Usage: node clip_bpe_js.cjs PACKAGE_DIR CORPUS.json > OUT.json
// PACKAGE_DIR is the unpacked npm tarball (the folder holding package.json).
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const [pkgDir, corpusPath] = process.argv.slice(2);
if (!pkgDir || !corpusPath) {
  console.error("usage: node clip_bpe_js.cjs PACKAGE_DIR CORPUS.json");
  process.exit(2);
}
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
const Tokenizer = require(path.resolve(pkgDir, "script", "mod.js")).default;
const vocabText = require(path.resolve(pkgDir, "script", "bpe_simple_vocab_16e6.js")).default.text;

const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));
const tok = new Tokenizer();
// encode() returns undefined for a token missing from its vocabulary;
// JSON writes that as null, which the Go test treats as a mismatch.
const ids = corpus.map((s) => tok.encode(s));
const out = {
  oracle: `${pkg.name}@${pkg.version}`,
  node: process.version,
  vocab_sha256: crypto.createHash("sha256").update(vocabText, "utf8").digest("hex"),
  ids,
};
// One corpus string per line keeps diffs of the fixture readable.
process.stdout.write(
  "{\n" +
    ["oracle", "node", "vocab_sha256"].map((k) => ` ${JSON.stringify(k)}: ${JSON.stringify(out[k])},\n`).join("") +
    ' "ids": [\n' +
    ids.map((a) => "  " + JSON.stringify(a)).join(",\n") +
    "\n ]\n}\n",
);
