#!/bin/sh
# build.sh — rebuilds data/emoji-mini from the npm packages it is made of.
#
#   sh tools/emoji-mini/build.sh [OUT_DIR]          (default: data/emoji-mini)
#   sh tools/emoji-mini/build.sh --four [OUT_DIR]   (default: build/emoji4)
#
# --four: the quality benchmark's four-style set (bench/quality): the same
# conversion with emoji-datasource-facebook and -apple added, written into a
# build folder as dataset_emoji4.json + twemoji/ noto/ facebook/ apple/.
# Never commit it: the Apple and Facebook images are not freely licensed.
#
# Fetches the three packages with `npm pack` (the npm registry is the only
# network access) into a temporary folder, builds the C converter against the
# project's library and runs it.  The package versions are pinned to the
# exact releases the committed data was made from, so a rebuild reproduces
# it byte for byte; change them here to move to a newer emoji release.  Only
# twemoji/, noto/ and dataset_emoji.json are rewritten: README.md and
# LICENSE.md beside them are maintained by hand.
set -eu

TWITTER=emoji-datasource-twitter@16.0.0
GOOGLE=emoji-datasource-google@16.0.0
EMOJIBASE=emojibase-data@17.0.0
FACEBOOK=emoji-datasource-facebook@16.0.0
APPLE=emoji-datasource-apple@16.0.0

root=$(cd "$(dirname "$0")/../.." && pwd)
four=0
if [ "${1:-}" = "--four" ]; then four=1; shift; fi
if [ $four = 1 ]; then out=${1:-$root/build/emoji4}; else out=${1:-$root/data/emoji-mini}; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "== building the converter"
make -C "$root" -s -j2 build/libclipc.a
pkgs="libcjson libutf8proc spng libjpeg libexif zlib"
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -fopenmp \
   -I"$root/include" -I"$root/src" $(pkg-config --cflags $pkgs) \
   -o "$tmp/convert" "$root/tools/emoji-mini/convert.c" "$root/build/libclipc.a" \
   -L$blas -Wl,-rpath,$blas -lopenblas $(pkg-config --libs $pkgs) -lsqlite3 -lm -lpthread

extra=
styles="twitter google"
if [ $four = 1 ]; then extra="$FACEBOOK $APPLE"; styles="$styles facebook apple"; fi
echo "== fetching $TWITTER $GOOGLE $EMOJIBASE $extra"
(cd "$tmp" && npm pack --silent "$TWITTER" "$GOOGLE" "$EMOJIBASE" $extra >/dev/null)
for p in $styles; do
    mkdir -p "$tmp/$p"
    tar xzf "$tmp"/emoji-datasource-$p-*.tgz -C "$tmp/$p"
done
mkdir -p "$tmp/emojibase"
tar xzf "$tmp"/emojibase-data-*.tgz -C "$tmp/emojibase"

echo "== converting into $out"
if [ $four = 1 ]; then
    mkdir -p "$out"
    rm -rf "$out/twemoji" "$out/noto" "$out/facebook" "$out/apple" "$out/dataset_emoji4.json"
    "$tmp/convert" "$tmp/twitter/package" "$tmp/google/package" "$tmp/emojibase/package" "$out" \
        "$tmp/facebook/package" "$tmp/apple/package" >"$out/convert.log" 2>&1 || { cat "$out/convert.log"; exit 1; }
    tail -4 "$out/convert.log"
else
    rm -rf "$out/twemoji" "$out/noto" "$out/dataset_emoji.json"
    "$tmp/convert" "$tmp/twitter/package" "$tmp/google/package" "$tmp/emojibase/package" "$out"
fi
du -sh "$out"
