#!/bin/sh
# build.sh — rebuilds data/emoji-mini from the npm packages it is made of.
#
#   sh tools/emoji-mini/build.sh [OUT_DIR]      (default: data/emoji-mini)
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

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/data/emoji-mini}
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

echo "== fetching $TWITTER $GOOGLE $EMOJIBASE"
(cd "$tmp" && npm pack --silent "$TWITTER" "$GOOGLE" "$EMOJIBASE" >/dev/null)
for p in twitter google; do
    mkdir -p "$tmp/$p"
    tar xzf "$tmp"/emoji-datasource-$p-*.tgz -C "$tmp/$p"
done
mkdir -p "$tmp/emojibase"
tar xzf "$tmp"/emojibase-data-*.tgz -C "$tmp/emojibase"

echo "== converting into $out"
rm -rf "$out/twemoji" "$out/noto" "$out/dataset_emoji.json"
"$tmp/convert" "$tmp/twitter/package" "$tmp/google/package" "$tmp/emojibase/package" "$out"
du -sh "$out"
