// bench/ort_peer.js — the ONNX Runtime peer of bench/compare (--peer ort).
//
//   node bench/ort_peer.js DIR RES CTX [THREADS=2] [REPS=3] [BATCH=64]
//
// DIR holds img.onnx and txt.onnx as ../shared/bench/ort/export.py writes
// them.  Times, like `clipc bench --mode infer`: images/s and texts/s at
// BATCH, and batch-1 image and text latency; each figure is the mean of
// REPS calls after one warm-up call (clipc bench's statistic).  Session:
// graph optimisation all, intra-op THREADS, inter-op 1, as the shared
// bench.js.  Captions are drawn like torch_clip.random_batch (SOT, random
// ids, EOT at a random position in 3..CTX, zeros after); the batch-1 text
// is the first caption of a second draw, and its length is printed (ONNX
// Runtime runs all CTX positions whatever the length; clipc packs).
// Prints one line: RESULT {json} with clipc bench's key names.
// onnxruntime-node comes from tools/ort/node_modules (NODE_PATH).
'use strict';
const ort = require('onnxruntime-node');
const [dir, R, ctx] = [process.argv[2], +process.argv[3], +process.argv[4]];
const threads = +(process.argv[5] || 2), reps = +(process.argv[6] || 3), batch = +(process.argv[7] || 64);

// A small seeded generator (xorshift32), so that runs draw the same inputs.
let seed = 12345;
function rand() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; }
function pixels(n) { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1; return a; }
function captions(b, lens) {
  const a = new BigInt64Array(b * ctx);
  for (let i = 0; i < b; i++) {
    const n = 3 + Math.floor(rand() * (ctx - 2));
    lens.push(n);
    a[i * ctx] = 49406n;
    for (let j = 1; j < n - 1; j++) a[i * ctx + j] = BigInt(1 + Math.floor(rand() * 49000));
    a[i * ctx + n - 1] = 49407n;
  }
  return a;
}

async function mean_s(sess, feeds) {
  await sess.run(feeds); // warm-up
  let sum = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    sum += Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return sum / reps;
}

(async () => {
  const opt = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const si = await ort.InferenceSession.create(dir + '/img.onnx', opt);
  const st = await ort.InferenceSession.create(dir + '/txt.onnx', opt);
  const img = (b) => ({ pixel_values: new ort.Tensor('float32', pixels(b * 3 * R * R), [b, 3, R, R]) });
  const lens = [], lens1 = [];
  const txt = (b, l) => ({ ids: new ort.Tensor('int64', captions(b, l), [b, ctx]) });
  const out = { impl: 'onnxruntime-node', version: require('onnxruntime-node/package.json').version, threads, batch };
  const ti = await mean_s(si, img(batch));
  const tt = await mean_s(st, txt(batch, lens));
  out.encode_img_per_s = batch / ti;
  out.encode_txt_per_s = batch / tt;
  out.img_latency_b1_s = await mean_s(si, img(1));
  out.txt_latency_b1_s = await mean_s(st, txt(1, lens1));
  out.txt_b1_tokens = lens1[0];
  out.txt_mean_tokens = lens.reduce((a, b) => a + b, 0) / lens.length;
  console.log('RESULT ' + JSON.stringify(out));
})().catch((e) => { console.error('ort_peer: ' + e); process.exit(1); });
