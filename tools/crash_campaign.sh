#!/bin/bash
# crash_campaign.sh — kills and full disks during `clipc train` and
# `clipc index`, each followed by the checks a user relies on.  Not part of
# the default tests (it takes minutes); tests/test_crash.c holds one short
# case of each kind for the default suite.
#
#   tools/crash_campaign.sh [TRAIN_KILLS [INDEX_KILLS]]     (defaults 200 100)
#
# PARTS="train fault points index ipoints full" (the default) picks the parts
# to run; STRIDE=K tries every Kth I/O point only (default 1: every one),
# from point START (default 1); MODES="kill enospc eio" (the default) the
# faults tried at each I/O point.  The work folder is made under TMPDIR:
# TMPDIR=/dev/shm (tmpfs, where fsync costs nothing) makes the I/O-point
# parts about a third faster; what is checked is the same.
# Run from the repository root after `make`.  CLIPC=path picks the program
# (default build/clipc).  It prints one line per finding and a summary:
#
# train: a tiny run (config tiny, 8 emoji-mini images, 12 steps, a
#   checkpoint every 2) is SIGKILLed at a random moment (uniform over the
#   length of the run, start-up included; of what is left of it when
#   resumed), up to 3 times in a chain,
#   each time resumed (`--resume`, or the same command when no checkpoint
#   exists yet).  After every kill: each checkpoint folder loads (`clipc
#   encode --model`), `last` names one that exists.  At the end of a chain:
#   the final model and state are byte-identical to an uninterrupted run's
#   (exact resume), and no temporary file or folder is left.
# fault: the same run killed (SIGKILL from inside, clipc-testhooks'
#   CLIPC_TRAIN_FAULT) at every stage of every checkpoint write (after the
#   model file, after the state file, after the folder's rename, after the
#   `last` pointer) of steps 2 to 12, then resumed: the same checks.
# points: every I/O point of a run with 2 checkpoints (steps 4, a
#   checkpoint every 2; config PCONFIG, default micro: one layer a tower,
#   the same kinds of points as tiny's in a fifth of the time, tiny's 100
#   tensor writes a model file being the same write repeated):
#   clipc-testhooks counts them (CLIPC_IO_FAULT=count:
#   each create, write, fsync, rename, unlink, rmdir, mkdir of the durable
#   writes), then for each N: SIGKILL at point N (kill:N), a failure of
#   point N with ENOSPC (enospc:N) and one with EIO (eio:N).  After each:
#   every checkpoint folder is byte-identical to the uninterrupted run's at
#   the same step (nothing torn, nothing clobbered; those load, checked
#   once), `last` names one; a failure is exit 1 with the error's text ("No
#   space left on device", "Input/output error") and the file named (or
#   exit 0 when the failing call was a clean-up whose failure changes
#   nothing); the resumed run ends byte-identical to the uninterrupted one
#   and leaves no temporary file.
# ipoints: the same for `clipc index` (64 images over an index of 32 of
#   them): every vector-file write and the points around each SQLite
#   transaction (before BEGIN, before COMMIT, after COMMIT), with `clipc
#   search` looping beside it: after each kill, ENOSPC or EIO the index
#   searches, and the next `clipc index` gives the reference results.  Adding
#   images only, the update appends to the vector files in place (rows, fsync,
#   commit record, fsync: each a point here); the campaign checks that it did.
# index: `clipc index` of 600 images (batches of 8, one commit each) is
#   killed at a random moment while `clipc search` runs in a loop beside it
#   (every search must succeed or fail cleanly, never crash); after the kill
#   the index must open and search, and the next `clipc index` must end with
#   the same search results as an uninterrupted index.
# disk full: RLIMIT_FSIZE (`ulimit -f`) at several sizes during train,
#   encode and index: a clean error (exit 1, message naming the file), the
#   previous file intact; and standard output on /dev/full (ENOSPC).
set -u
ROOT=$(pwd)
CLIPC=${CLIPC:-$ROOT/build/clipc}
N_TRAIN=${1:-200}
N_INDEX=${2:-100}
PARTS=${PARTS:-"train fault points index ipoints full"}
STRIDE=${STRIDE:-1} START=${START:-1}
MODES=${MODES:-"kill enospc eio"}
# the message of an injected failure
errtext() { case $1 in enospc) echo 'No space left on device' ;; eio) echo 'Input/output error' ;; esac; }
HOOKS=${CLIPC_HOOKS:-$(dirname "$CLIPC")/clipc-testhooks}
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
[ -x "$CLIPC" ] && [ -d data/emoji-mini/twemoji ] || { echo "run from the repository root after make" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/clipc-crash.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 2
ln -s "$ROOT/data/emoji-mini" emoji
{ echo image,caption; for h in 1f600 1f601 1f602 1f603 1f604 1f605 1f606 1f607; do echo "twemoji/$h.png,emoji $h"; done; } > pairs.csv
ARGS="--data pairs.csv --image-root emoji --recipe cpu-tiny --config tiny --batch 4 --threads 1 --warmup 1 \
--log-every 100 --steps 12 --ckpt-every-steps 2"
findings=0
finding() { echo "FINDING: $*"; findings=$((findings + 1)); }
rand_ms() { echo $(( (RANDOM * 32768 + RANDOM) % $1 )); }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# ---------------------------------------------------------------- train
t0=$(date +%s%N)
"$CLIPC" train $ARGS --out ref >ref.log 2>&1 || { cat ref.log; echo "reference run failed" >&2; exit 1; }
RUN_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
MODEL=ref/ckpt-12/model.safetensors
echo "train: reference run $RUN_MS ms"

check_run() { # every checkpoint of run folder $1 loads; `last` names one
    local d n
    for d in "$1"/ckpt-*; do
        [ -d "$d" ] || continue
        case "$d" in *.tmp*) continue ;; esac
        if ! "$CLIPC" encode --model "$d/model.safetensors" --text a >/dev/null 2>"$W/enc.err"; then
            finding "train kill $kills: $d does not load: $(head -c 300 "$W/enc.err")"
            corrupt=$((corrupt + 1))
        fi
    done
    if [ -f "$1/last" ]; then
        n=$(cat "$1/last")
        [ -d "$1/$n" ] || { finding "train kill $kills: last names $n, which does not exist"; corrupt=$((corrupt + 1)); }
    fi
}

kills=0 landed=0 midwrite=0 corrupt=0 chains=0 mismatch=0 leftovers=0 early=0
part train || N_TRAIN=0
while [ $kills -lt "$N_TRAIN" ]; do
    chains=$((chains + 1))
    rm -rf run
    for k in 1 2 3; do
        [ $kills -lt "$N_TRAIN" ] || break
        if [ -f run/last ]; then set -- train --resume run --threads 1; else set -- train $ARGS --out run; fi
        # a resumed run has (14 - N) / 14 of the work left (12 steps and about
        # 2 steps' worth of start-up): the kill moment is drawn over that
        span=$RUN_MS
        if [ -f run/last ]; then
            n=$(sed -n 's/^ckpt-\([0-9]*\)$/\1/p' run/last)
            [ -n "$n" ] && span=$((RUN_MS * (14 - n) / 14))
        fi
        "$CLIPC" "$@" >run.log 2>&1 &
        pid=$!
        sleep_ms "$(rand_ms "$span")"
        kills=$((kills + 1))
        if kill -9 "$pid" 2>/dev/null; then landed=$((landed + 1)); fi
        wait "$pid" 2>/dev/null
        st=$?
        if [ $st -ne 137 ] && [ $st -ne 0 ]; then finding "train kill $kills: exit $st: $(tail -c 300 run.log)"; fi
        [ $st -eq 0 ] && { early=$((early + 1)); break; }
        ls run 2>/dev/null | grep -q '\.tmp' && midwrite=$((midwrite + 1))
        check_run run
    done
    if [ -f run/last ]; then set -- train --resume run --threads 1; else set -- train $ARGS --out run; fi
    if ! "$CLIPC" "$@" >run.log 2>&1; then
        finding "chain $chains: the run after the kills failed: $(tail -c 300 run.log)"
        continue
    fi
    for f in model state; do
        cmp -s "ref/ckpt-12/$f.safetensors" "run/ckpt-12/$f.safetensors" ||
            { finding "chain $chains: ckpt-12/$f.safetensors differs from the uninterrupted run"; mismatch=$((mismatch + 1)); }
    done
    left=$(find run -name '*.tmp*' | head -3)
    [ -z "$left" ] || { finding "chain $chains: temporary files left: $left"; leftovers=$((leftovers + 1)); }
    echo "  chain $chains: $kills kills, $landed landed, $midwrite mid-write, $early after the end; corrupt $corrupt," \
         "differing $mismatch, leftovers $leftovers"
done
part train && echo "train: $kills kills in $chains chains; $landed landed while running ($midwrite with a checkpoint being written," \
     "$early after the run had ended); corrupt or unloadable checkpoints: $corrupt; final bytes differing from" \
     "the uninterrupted run: $mismatch; runs leaving temporary files: $leftovers"

# ---------------------------------------------------------------- fault
fkills=0 fbad=0
if part fault && [ -x "$HOOKS" ]; then
    for stage in model state renamed pointer; do
        for at in 2 4 6 8 10 12; do
            rm -rf frun
            CLIPC_TRAIN_FAULT=$stage:$at "$HOOKS" train $ARGS --out frun >run.log 2>&1
            st=$?
            fkills=$((fkills + 1))
            [ $st -eq 137 ] || { finding "fault $stage:$at: exit $st, not killed"; fbad=$((fbad + 1)); continue; }
            kills=$fkills
            check_run frun
            if [ -f frun/last ]; then set -- train --resume frun --threads 1; else set -- train $ARGS --out frun; fi
            if ! "$CLIPC" "$@" >run.log 2>&1; then
                finding "fault $stage:$at: the resumed run failed: $(tail -c 300 run.log)"; fbad=$((fbad + 1)); continue
            fi
            for f in model state; do
                cmp -s "ref/ckpt-12/$f.safetensors" "frun/ckpt-12/$f.safetensors" ||
                    { finding "fault $stage:$at: ckpt-12/$f.safetensors differs"; fbad=$((fbad + 1)); }
            done
            left=$(find frun -name '*.tmp*' | head -3)
            [ -z "$left" ] || { finding "fault $stage:$at: temporary files left: $left"; fbad=$((fbad + 1)); }
        done
    done
    echo "fault: $fkills kills at a checkpoint write stage (model, state, renamed, pointer x steps 2..12);" \
         "corrupt checkpoints so far: $corrupt; failed resumes, differing bytes or leftovers: $fbad"
fi

# ---------------------------------------------------------------- points
# Every I/O point of a 4-step run with checkpoints at 2 and 4.
same_as_ref() { # every checkpoint file in run folder $1 equals $2's
    local f
    for f in "$1"/ckpt-*/*.safetensors; do
        [ -f "$f" ] || continue
        case "$f" in *.tmp/*) continue ;; esac
        cmp -s "$f" "$2/${f#$1/}" || { echo "$f"; return 1; }
    done
    return 0
}
ppoints=0 pkills=0 pbad=0 penospc=0 peio=0 pclean=0
if part points && [ -x "$HOOKS" ]; then
    PARGS="${ARGS/--steps 12/--steps 4}"
    PARGS="${PARGS/--config tiny/--config ${PCONFIG:-micro}}"
    CLIPC_IO_FAULT=count "$HOOKS" train $PARGS --out pref >pref.log 2>&1
    # every checkpoint of that run (pref keeps only the last): killed after
    # the `last` pointer of ckpt-4, before ckpt-2 is pruned
    CLIPC_TRAIN_FAULT=pointer:4 "$HOOKS" train $PARGS --out pall >/dev/null 2>&1
    PTOTAL=$(sed -n 's/^clipc-testhooks: \([0-9]*\) I\/O points$/\1/p' pref.log)
    echo "points: the 4-step run has ${PTOTAL:-?} I/O points"
    # the checkpoints every fault is compared with load (checked once here:
    # a file byte-identical to one of them loads too)
    kills=reference; check_run pall
    for ((n = START; n <= ${PTOTAL:-0}; n += STRIDE)); do
        for mode in $MODES; do
            rm -rf prun
            CLIPC_IO_FAULT=$mode:$n "$HOOKS" train $PARGS --out prun >run.log 2>&1
            st=$?
            ppoints=$((ppoints + 1))
            if [ $mode = kill ]; then
                [ $st -eq 137 ] && pkills=$((pkills + 1)) || { finding "points kill:$n: exit $st, not killed"; pbad=$((pbad + 1)); }
            elif [ $st -eq 1 ]; then
                [ $mode = eio ] && peio=$((peio + 1)) || penospc=$((penospc + 1))
                grep -q "$(errtext $mode)" run.log && grep -q 'clipc: error: .*prun' run.log ||
                    { finding "points $mode:$n: message: $(tail -c 300 run.log)"; pbad=$((pbad + 1)); }
            elif [ $st -eq 0 ]; then
                pclean=$((pclean + 1))
            else
                finding "points $mode:$n: exit $st: $(tail -c 300 run.log)"; pbad=$((pbad + 1))
            fi
            # `last` names a checkpoint that exists; each checkpoint file
            # is the uninterrupted run's at that step
            if [ -f prun/last ] && [ ! -d "prun/$(cat prun/last)" ]; then
                finding "points $mode:$n: last names $(cat prun/last), which does not exist"; corrupt=$((corrupt + 1))
            fi
            bad=$(same_as_ref prun pall) || { finding "points $mode:$n: $bad differs from the uninterrupted run's"; pbad=$((pbad + 1)); corrupt=$((corrupt + 1)); }
            if [ -f prun/last ]; then set -- train --resume prun --threads 1; else set -- train $PARGS --out prun; fi
            # the next run (after an absorbed failure too: a resume of the
            # finished run) must leave no temporary file
            if ! "$CLIPC" "$@" >run.log 2>&1; then
                finding "points $mode:$n: the next run failed: $(tail -c 300 run.log)"; pbad=$((pbad + 1)); continue
            fi
            for f in model state; do
                cmp -s "pref/ckpt-4/$f.safetensors" "prun/ckpt-4/$f.safetensors" ||
                    { finding "points $mode:$n: ckpt-4/$f.safetensors differs"; pbad=$((pbad + 1)); }
            done
            left=$(find prun -name '*.tmp*' | head -3)
            [ -z "$left" ] || { finding "points $mode:$n: temporary files left: $left"; pbad=$((pbad + 1)); }
        done
        [ $((n % 10)) -eq 0 ] &&
            echo "  points: up to point $n of ${PTOTAL:-?}: $ppoints faults, $pkills kills, $penospc ENOSPC and $peio EIO" \
                 "exits 1, $pclean absorbed; bad $pbad, corrupt $corrupt ($(date +%H:%M:%S))"
    done
    echo "points: $ppoints faults at the I/O points $START..${PTOTAL:-?} by $STRIDE of ${PTOTAL:-?} ($MODES at each):" \
         "$pkills kills landed, $penospc ENOSPC and $peio EIO exits 1, $pclean absorbed (a clean-up call failed, exit 0);" \
         "corrupt checkpoints $corrupt; differing files, failed resumes, leftovers or bad messages: $pbad"
fi

# ---------------------------------------------------------------- index
mkdir -p imgs
ls emoji/twemoji | head -600 | while read -r f; do ln -s "$W/emoji/twemoji/$f" "imgs/$f"; done
"$CLIPC" index imgs --model "$MODEL" --db ref.db --batch 8 --threads 1 >/dev/null 2>&1 || { echo "reference index failed" >&2; exit 1; }
Q="emoji 1f600"
"$CLIPC" search --db ref.db --top 10 "$Q" >ref.search 2>&1
IDX_MS=0
if part index; then
    t0=$(date +%s%N)
    "$CLIPC" index imgs --model "$MODEL" --db timing.db --batch 8 --threads 1 >/dev/null 2>&1
    IDX_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "index: reference index $IDX_MS ms ($(wc -l <ref.search) results for '$Q')"
fi
ikills=0 ilanded=0 ibad=0 searches=0 sfail=0 sclean=0 idiff=0 early_refused=0
part index || N_INDEX=0
while [ $ikills -lt "$N_INDEX" ]; do
    rm -f db.db db.db-wal db.db-shm db.db.vec
    "$CLIPC" index imgs --model "$MODEL" --db db.db --batch 8 --threads 1 >idx.log 2>&1 &
    pid=$!
    ( while kill -0 "$pid" 2>/dev/null; do
          "$CLIPC" search --db db.db --top 5 "$Q" >s.out 2>s.err
          st=$?
          if [ $st -ge 128 ] || grep -q -i 'sanitizer\|corrupt\|malformed' s.err; then echo "BAD $st $(head -c 200 s.err)"; fi
          echo "S $st"
      done ) >searches.log &
    spid=$!
    sleep_ms "$(rand_ms "$IDX_MS")"
    ikills=$((ikills + 1))
    kill -9 "$pid" 2>/dev/null && ilanded=$((ilanded + 1))
    wait "$pid" 2>/dev/null
    wait "$spid" 2>/dev/null
    searches=$((searches + $(grep -c '^S ' searches.log)))
    sclean=$((sclean + $(grep -c '^S 1$' searches.log)))
    if grep -q '^BAD' searches.log; then finding "index kill $ikills: a search beside the index: $(grep '^BAD' searches.log | head -1)"; sfail=$((sfail + 1)); fi
    if [ -f db.db ]; then
        "$CLIPC" search --db db.db --top 5 "$Q" >/dev/null 2>s.err
        st=$?
        # killed before its first commit, an index is refused cleanly ("run clipc index first")
        if [ $st -ne 0 ] && ! grep -q 'run clipc index first' s.err; then
            finding "index kill $ikills: search after the kill: exit $st: $(head -c 200 s.err)"; ibad=$((ibad + 1))
        fi
        [ $st -ne 0 ] && early_refused=$((early_refused + 1))
    fi
    if ! "$CLIPC" index imgs --model "$MODEL" --db db.db --batch 8 --threads 1 >idx.log 2>&1; then
        finding "index kill $ikills: re-index failed: $(tail -c 300 idx.log)"; ibad=$((ibad + 1)); continue
    fi
    "$CLIPC" search --db db.db --top 10 "$Q" >db.search 2>&1
    cmp -s ref.search db.search || { finding "index kill $ikills: results differ after re-index"; idiff=$((idiff + 1)); }
done
part index && echo "index: $ikills kills, $ilanded landed while indexing; $searches searches beside it ($sclean clean refusals," \
     "$sfail crashes or corrupt reads); after the kill $early_refused indexes had nothing committed yet (refused" \
     "cleanly: run clipc index first), unusable indexes: $ibad; results differing after re-index: $idiff"

# ---------------------------------------------------------------- ipoints
# Every I/O point of `clipc index` adding 32 images to an index of 32.
ipn=0 iplanded=0 ipbad=0 ipenospc=0 ipeio=0 ipclean=0 ipsearches=0
if part ipoints && [ -x "$HOOKS" ]; then
    # the reference: all 64 images; the index before: the first 32 (same paths)
    mkdir -p iall
    ls imgs | head -64 | while read -r f; do ln -s "$W/emoji/twemoji/$f" "iall/$f"; done
    "$CLIPC" index iall --model "$MODEL" --db iref.db --batch 8 --threads 1 >/dev/null 2>&1
    "$CLIPC" search --db iref.db --top 10 "$Q" >iref.search 2>&1
    mkdir -p ihold
    ls iall | tail -32 | while read -r f; do mv "iall/$f" ihold/; done
    "$CLIPC" index iall --model "$MODEL" --db ipre.db --batch 8 --threads 1 >/dev/null 2>&1
    mv ihold/* iall/
    ipre_db() { rm -f ip.db ip.db-wal ip.db-shm ip.db.vec ip.db.vec8; cp ipre.db ip.db; cp ipre.db.vec ip.db.vec; cp ipre.db.vec8 ip.db.vec8; }
    ipre_db
    CLIPC_IO_FAULT=count "$HOOKS" index iall --model "$MODEL" --db ip.db --batch 8 --threads 1 >ip.log 2>&1
    ITOTAL=$(sed -n 's/^clipc-testhooks: \([0-9]*\) I\/O points$/\1/p' ip.log)
    echo "ipoints: indexing 32 more images has ${ITOTAL:-?} I/O points"
    # only images added: the vector files are appended to in place (their
    # commit records are among the points), not rewritten
    grep -q '"vectors": "appended"' ip.log || finding "ipoints: adding 32 images rewrote the vector files: $(tail -c 300 ip.log)"
    for ((n = START; n <= ${ITOTAL:-0}; n += STRIDE)); do
        for mode in $MODES; do
            ipre_db
            CLIPC_IO_FAULT=$mode:$n "$HOOKS" index iall --model "$MODEL" --db ip.db --batch 8 --threads 1 >ip.log 2>&1 &
            pid=$!
            ( while kill -0 "$pid" 2>/dev/null; do
                  "$CLIPC" search --db ip.db --top 5 "$Q" >s.out 2>s.err
                  st=$?
                  [ $st -eq 0 ] || echo "BAD $st $(head -c 200 s.err)"
                  echo "S $st"
              done ) >searches.log &
            spid=$!
            wait "$pid"
            st=$?
            wait "$spid"
            ipn=$((ipn + 1))
            ipsearches=$((ipsearches + $(grep -c '^S ' searches.log)))
            if grep -q '^BAD' searches.log; then finding "ipoints $mode:$n: a search beside: $(grep '^BAD' searches.log | head -1)"; ipbad=$((ipbad + 1)); fi
            if [ $mode = kill ]; then
                [ $st -eq 137 ] && iplanded=$((iplanded + 1)) || { finding "ipoints kill:$n: exit $st"; ipbad=$((ipbad + 1)); }
            elif [ $st -eq 1 ]; then
                [ $mode = eio ] && ipeio=$((ipeio + 1)) || ipenospc=$((ipenospc + 1))
                grep -q "$(errtext $mode)" ip.log && grep -q 'clipc: error: .*ip\.db' ip.log ||
                    { finding "ipoints $mode:$n: message: $(tail -c 300 ip.log)"; ipbad=$((ipbad + 1)); }
            elif [ $st -eq 0 ]; then
                ipclean=$((ipclean + 1))
            else
                finding "ipoints $mode:$n: exit $st: $(tail -c 300 ip.log)"; ipbad=$((ipbad + 1))
            fi
            # the index searches after the fault (it held 32 images before)
            "$CLIPC" search --db ip.db --top 5 "$Q" >/dev/null 2>s.err ||
                { finding "ipoints $mode:$n: search after the fault: $(head -c 200 s.err)"; ipbad=$((ipbad + 1)); }
            if ! "$CLIPC" index iall --model "$MODEL" --db ip.db --batch 8 --threads 1 >ip.log 2>&1; then
                finding "ipoints $mode:$n: re-index failed: $(tail -c 300 ip.log)"; ipbad=$((ipbad + 1)); continue
            fi
            "$CLIPC" search --db ip.db --top 10 "$Q" >ip.search 2>&1
            cmp -s iref.search ip.search || { finding "ipoints $mode:$n: results differ after re-index"; ipbad=$((ipbad + 1)); }
            left=$(ls | grep '^ip\.db.*\.tmp\.' | head -3)
            [ -z "$left" ] || { finding "ipoints $mode:$n: temporary files left after re-index: $left"; ipbad=$((ipbad + 1)); }
        done
    done
    echo "ipoints: $ipn faults at the I/O points $START..${ITOTAL:-?} by $STRIDE ($MODES at each), $ipsearches" \
         "searches beside them; $iplanded kills landed, $ipenospc ENOSPC and $ipeio EIO exits 1, $ipclean absorbed (exit 0);" \
         "unusable indexes, differing results, leftovers, failed searches or bad messages: $ipbad"
fi

# ---------------------------------------------------------------- disk full
# The limit counts 1 KiB blocks; ignoring SIGXFSZ is what clipc does itself.
full=0 fullbad=0 fitted=0
limited() { local kb=$1; shift; ( ulimit -f "$kb"; exec "$CLIPC" "$@" ) >full.out 2>full.err; }
check_full() { # $1 = what, $2 = exit status, $3 = the file the message must name
    full=$((full + 1))
    if [ "$2" -eq 0 ]; then fitted=$((fitted + 1)); return 0; fi  # it fitted
    if [ "$2" -ne 1 ] || ! grep -q "$3" full.err; then
        finding "disk full, $1: exit $2, message: $(head -c 300 full.err)"; fullbad=$((fullbad + 1))
    fi
}
# a run stopped at step 10 of 12: each resume under the limit must fail
# writing ckpt-12 (a model of 31 MB, a state of 62 MB) and keep ckpt-10
"$CLIPC" train $ARGS --stop-after-steps 10 --out full_run >/dev/null 2>&1
part full || KBS=""
for kb in ${KBS-1 8 64 4096 40000}; do
    rm -rf full_new
    limited "$kb" train $ARGS --out full_new; st=$?
    check_full "train into a new folder at ${kb} KiB" $st "full_new"
    # the reference run's files are rewritten: a resume that writes more
    before=$(sha256sum full_run/ckpt-10/*.safetensors full_run/last | sha256sum)
    limited "$kb" train --resume full_run --threads 1; st=$?
    check_full "train resumed at ${kb} KiB" $st "full_run"
    ls full_run | grep -q '\.tmp' && { finding "disk full, resume at $kb KiB: a temporary folder stayed"; fullbad=$((fullbad + 1)); }
    after=$(sha256sum full_run/ckpt-10/*.safetensors full_run/last | sha256sum)
    [ $st -ne 0 ] || { finding "disk full, resume at $kb KiB: wrote 93 MB under the limit?"; fullbad=$((fullbad + 1)); }
    [ "$before" = "$after" ] || { finding "disk full at $kb KiB: ckpt-10 or last changed"; fullbad=$((fullbad + 1)); }
    "$CLIPC" encode --model "$MODEL" --text a --out emb.json >/dev/null 2>&1
    cp emb.json emb.before
    limited "$kb" encode --model "$MODEL" --dir imgs --out emb.json; st=$?
    check_full "encode --out at ${kb} KiB" $st "emb.json"
    [ $st -eq 0 ] || cmp -s emb.json emb.before || { finding "disk full at $kb KiB: emb.json changed"; fullbad=$((fullbad + 1)); }
    # another model: every image is embedded again, the index rewritten
    cp ref.db full.db; rm -f full.db.vec; cp ref.db.vec full.db.vec
    limited "$kb" index imgs --model ref/ckpt-10/model.safetensors --db full.db --batch 8; st=$?
    check_full "index at ${kb} KiB" $st "full.db"
    "$CLIPC" search --db full.db --top 10 "$Q" >full.search 2>&1 || { finding "disk full, index at $kb KiB: the index no longer searches"; fullbad=$((fullbad + 1)); }
done
stdout_full() { # clipc ARGS with standard output on /dev/full: exit 1 saying so
    "$CLIPC" "$@" >/dev/full 2>full.err; local st=$?
    full=$((full + 1))
    if [ $st -ne 1 ] || ! grep -q 'clipc: error: writing standard output' full.err; then
        finding "stdout on /dev/full: clipc $*: exit $st, $(head -c 200 full.err)"; fullbad=$((fullbad + 1))
    fi
}
if part full; then
stdout_full encode --model "$MODEL" --text a
stdout_full search --db ref.db --top 3 "$Q"
stdout_full tokenize --help
stdout_full --version
fi
part full && echo "disk full: $full cases ($fitted fitted under their limit, the rest refused);" \
    "unclean errors or damaged files: $fullbad"
echo "findings: $findings"
[ $findings -eq 0 ]
