#!/bin/sh
# The demo proper (see demo.sh): shows the pieces working on shipped inputs.
set -e
C=build/clipc
M=tests/data/goldens/a/weights.safetensors
echo "== clipc tokenize: OpenAI's BPE (built-in vocabulary)"
printf '%s\n' '{"text": "a photo of a cat."}' '{"text": "Un café très chaud, s'"'"'il vous plaît"}' |
    $C tokenize --context-length 16
echo
echo "== clipc encode: image embeddings from a multi-head test model ($M)"
$C encode --model $M --normalize \
    --image tests/data/images/rgb_97x61.png --image tests/data/images/ycc420_37x23.jpg \
    --image tests/data/images/pal_40x30.png | cut -c1-150
echo
echo "== clipc bench: one training step and encoding of the tiny config"
$C bench --config tiny --batch 16 --steps 2 --warmup 1 --reps 2 --json | cut -c1-400
