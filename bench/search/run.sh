#!/bin/sh
# bench/search/run.sh — the search benchmark (clipc search --bench): exact
# search (f32 sgemv and the int8 scan + f32 re-rank) and FAISS (ivf,pq,
# hnsw) on clustered synthetic 512-d vectors, 2 threads, RUNS times each,
# one JSON line per run, with the load (uptime) before and after each.
# Usage: bench/search/run.sh [OUTDIR] (default: a fresh temporary folder).
# Disk in OUTDIR: ~2.6 GB per million rows (f32 + int8), freed after each
# size; 10 M rows need ~26 GB.  Check `df -h` first.
# Env: RUNS (default 2), SIZES (default "100000 1000000"; add 10000000 for
# the 10 M run), CLIPC (default build/clipc),
#   ANN_1M  FAISS kinds at 1 M (default ivf,pq; "both" adds HNSW),
#   ANN_10M FAISS kinds at 10 M and above (default none: IVF-PQ's build
#           there takes hours on 2 busy cores),
#   HNSW_M, HNSW_EFC HNSW's M and efConstruction (default 32 and 40 below
#           1 M, 16 and 40 from 1 M: the build time grows with both),
#   QUERIES (default 50), F32_QUERIES_10M (default 3: each f32 query at
#           10 M reads the 20 GB file from disk; the ground truth does not
#           need it, it comes from the generating stream).
set -eu
CLIPC=${CLIPC:-build/clipc}
RUNS=${RUNS:-2}
SIZES=${SIZES:-"100000 1000000"}
ANN_1M=${ANN_1M:-ivf,pq}
ANN_10M=${ANN_10M:-none}
QUERIES=${QUERIES:-50}
F32_QUERIES_10M=${F32_QUERIES_10M:-3}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
for n in $SIZES; do
    ann=both
    m=${HNSW_M:-32}
    fq=$QUERIES
    [ "$n" -ge 1000000 ] && ann=$ANN_1M && m=${HNSW_M:-16}
    [ "$n" -ge 10000000 ] && ann=$ANN_10M && fq=$F32_QUERIES_10M
    r=1
    while [ "$r" -le "$RUNS" ]; do
        echo "# n=$n run=$r start load: $(uptime)" >&2
        "$CLIPC" search --bench "$n" --db "$OUT/bench$n.db" --threads 2 --queries "$QUERIES" --f32-queries "$fq" \
            --bench-ann "$ann" --hnsw-m "$m" --hnsw-efc "${HNSW_EFC:-40}"
        echo "# n=$n run=$r end load: $(uptime)" >&2
        r=$((r + 1))
    done
    rm -f "$OUT/bench$n.db.vec" "$OUT/bench$n.db.vec8" "$OUT/bench$n.db.ann"
done
