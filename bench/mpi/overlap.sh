#!/bin/sh
# bench/mpi/overlap.sh — step time of `mpirun -np N clipc train` with the
# gradient allreduce blocking after the backward (--overlap-allreduce 0)
# and overlapped with it (1), run alternately in one session so both see
# the same machine load; prints each run's `mpi:` line and the load, then
# the median training-loop time of each mode and their ratio, and checks
# that both modes wrote byte-identical checkpoints.
# Usage: bench/mpi/overlap.sh [OUTDIR]   Env: RUNS (default 3 per mode),
# NP (2), STEPS (6), RECIPE (cpu-tiny), BATCH (32), CLIPC (build/clipc).
# The data is data/emoji-mini (in the repository).  The Open MPI settings
# are those of docs/distributed.md (root in a sandbox, no ptrace).
set -eu
CLIPC=${CLIPC:-build/clipc}
RUNS=${RUNS:-3}
NP=${NP:-2}
STEPS=${STEPS:-6}
RECIPE=${RECIPE:-cpu-tiny}
BATCH=${BATCH:-32}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
run() { # mode run
    dir="$OUT/ov$1-$2"
    rm -rf "$dir"
    echo "# overlap=$1 run=$2 load: $(cut -d' ' -f1-3 /proc/loadavg)"
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np "$NP" --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
        -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 \
        "$CLIPC" train --data data/emoji-mini/dataset_emoji.json --recipe "$RECIPE" --val-split '' \
        --batch "$BATCH" --threads 1 --steps "$STEPS" --out "$dir" --overlap-allreduce "$1" 2>&1 |
        grep 'mpi:' | tee "$dir.mpi"
}
r=1
while [ "$r" -le "$RUNS" ]; do
    run 0 "$r"
    run 1 "$r"
    r=$((r + 1))
done
for m in 0 1; do
    # the training loop's seconds per run, sorted; the median
    sed -n 's/.*loop \([0-9.]*\) s.*/\1/p' "$OUT"/ov$m-*.mpi | sort -n >"$OUT/loop$m"
    eval "med$m=$(awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}' "$OUT/loop$m")"
done
echo "median training loop over $RUNS runs, $STEPS steps: blocking $med0 s, overlapped $med1 s," \
     "ratio overlapped/blocking $(awk "BEGIN {printf \"%.3f\", $med1 / $med0}")"
for f in model.safetensors state.safetensors; do
    cmp -s "$OUT/ov0-1/ckpt-$STEPS/$f" "$OUT/ov1-1/ckpt-$STEPS/$f" && echo "ckpt-$STEPS/$f: identical in both modes" ||
        { echo "ckpt-$STEPS/$f DIFFERS between the modes"; exit 1; }
done
