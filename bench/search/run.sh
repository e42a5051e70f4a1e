#!/bin/sh
# bench/search/run.sh — the search benchmark (clipc search --bench): exact
# search (f32 sgemv and the int8 scan + f32 re-rank) and FAISS (ivf,pq,
# hnsw) on clustered synthetic 512-d vectors at 100k and 1M rows, 2 threads,
# RUNS times each, one JSON line per run, with the load (uptime) before each.
# Usage: bench/search/run.sh [OUTDIR] (default: a fresh temporary folder;
# 1M rows need ~2.6 GB of disk there).  Env: RUNS (default 2), SIZES
# (default "100000 1000000"), ANN_1M (default ivf,pq: an HNSW build of 1M
# takes hours on 2 busy cores), CLIPC (default build/clipc).
set -eu
CLIPC=${CLIPC:-build/clipc}
RUNS=${RUNS:-2}
SIZES=${SIZES:-"100000 1000000"}
ANN_1M=${ANN_1M:-ivf,pq}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
for n in $SIZES; do
    ann=both
    [ "$n" -ge 1000000 ] && ann=$ANN_1M
    r=1
    while [ "$r" -le "$RUNS" ]; do
        echo "# n=$n run=$r load: $(uptime)" >&2
        "$CLIPC" search --bench "$n" --db "$OUT/bench$n.db" --threads 2 --queries 50 --bench-ann "$ann"
        r=$((r + 1))
    done
    rm -f "$OUT/bench$n.db.vec" "$OUT/bench$n.db.vec8" "$OUT/bench$n.db.ann"
done
