// run.js — runs one ONNX model in ONNX Runtime (CPU) on inputs read from a
// JSON file and writes its outputs as JSON:
//     node tools/ort/run.js MODEL.onnx IN.json OUT.json
// IN.json:  {"<input name>": {"dtype": "float32"|"int64"|"int32", "dims": [...], "data": [...]}, ...}
// OUT.json: {"<output name>": {"dtype": ..., "dims": [...], "data": [...]}, ...}
// JSON numbers carry float32 values exactly (they print as doubles).  One
// thread, all graph optimisations on (what a deployment runs).  Used by
// tests/test_export_onnx.c; needs tools/ort/install.sh first.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function tensor(name, t) {
    let data;
    if (t.dtype === 'float32') data = Float32Array.from(t.data);
    else if (t.dtype === 'int64') data = BigInt64Array.from(t.data, (v) => BigInt(v));
    else if (t.dtype === 'int32') data = Int32Array.from(t.data);
    else throw new Error(`input ${name}: dtype ${t.dtype} is not float32, int64 or int32`);
    return new ort.Tensor(t.dtype, data, t.dims);
}

async function main() {
    const [model, inPath, outPath] = process.argv.slice(2);
    if (!outPath) throw new Error('usage: node run.js MODEL.onnx IN.json OUT.json');
    const spec = JSON.parse(fs.readFileSync(inPath, 'utf8'));
    const feeds = {};
    for (const [name, t] of Object.entries(spec)) feeds[name] = tensor(name, t);
    const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1,
    });
    const res = await session.run(feeds);
    const out = {};
    for (const [name, t] of Object.entries(res))
        out[name] = {dtype: t.type, dims: t.dims, data: Array.from(t.data, (v) => Number(v))};
    fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
    console.error(`run.js: ${e.message}`);
    process.exit(1);
});
