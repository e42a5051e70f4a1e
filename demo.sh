#!/bin/sh
# clipc's main job on a fresh Debian 12 machine: installs the missing
# packages (apt-get, as root), builds, then runs clipc on the data that ships
# with the repository.
set -e
cd "$(dirname "$0")"
sh tools/install-deps.sh
make -j"$(nproc 2>/dev/null || echo 2)" build/clipc
exec sh tools/demo.sh "$@"
