// tokenize.js — encodes texts with a Hugging Face tokenizer.json in the
// Rust `tokenizers` library (the one Immich's Python service uses, here
// through its Node.js binding @anush008/tokenizers) and writes the ids:
//     node tools/ort/tokenize.js tokenizer.json IN.json OUT.json
// IN.json: an array of strings; OUT.json: an array of id arrays (special
// tokens included, no padding).  Used by tests/test_export_onnx.c.
'use strict';
const fs = require('fs');
const {Tokenizer} = require('@anush008/tokenizers');

async function main() {
    const [tokfile, inPath, outPath] = process.argv.slice(2);
    if (!outPath) throw new Error('usage: node tokenize.js tokenizer.json IN.json OUT.json');
    const tok = Tokenizer.fromFile(tokfile);
    const out = [];
    for (const text of JSON.parse(fs.readFileSync(inPath, 'utf8'))) out.push((await tok.encode(text)).getIds());
    fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
    console.error(`tokenize.js: ${e.message}`);
    process.exit(1);
});
