#!/bin/sh
# Janitor for the Mason quick start: `janitor.sh --dir=<scratch-dir name>` wipes that
# scratch directory (everything a sandbox built in it) and recreates it empty. Exit 0
# frees the resource; any other exit leaves it dirty for another try.
set -eu

work="${MASON_QUICKSTART_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.mason/quickstart}"
name=""
for arg in "$@"; do
    case "$arg" in
        --dir=*) name="${arg#--dir=}" ;;
    esac
done
case "$name" in
    "" | */* | . | ..)
        echo "janitor.sh: expected --dir=<name>, got: $*" >&2
        exit 2
        ;;
esac

dir="$work/scratch/$name"
rm -rf "$dir"
mkdir -p "$dir"
echo "janitor.sh: wiped $dir"
