#!/bin/sh
# Builds one "sandbox" virtual resource for the Mason quick start (exec converter).
#
# stdin: {"resource": <the sandbox>, "leased": {"scratch-dir": [<one scratch dir>]}}
# stdout: one JSON object of strings, merged into the sandbox's user data.
# Runs in the config file's directory; MASON_RESOURCE_NAME names the sandbox.
set -eu

work="${MASON_QUICKSTART_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.mason/quickstart}"
input="$(cat)"
sandbox="${MASON_RESOURCE_NAME:?the builder sets MASON_RESOURCE_NAME}"
# The leased scratch directory: the first "name" inside the "leased" object.
scratch="$(printf '%s' "$input" | sed 's/.*"leased"://' | grep -o '"name":"[^"]*"' | head -n 1 | cut -d'"' -f4)"
if [ -z "$scratch" ]; then
    echo "build.sh: no leased scratch-dir in the input" >&2
    exit 1
fi

dir="$work/scratch/$scratch"
mkdir -p "$dir"
built_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if command -v sqlite3 >/dev/null 2>&1; then
    db="$dir/$sandbox.sqlite"
    sqlite3 "$db" "CREATE TABLE IF NOT EXISTS sandbox(key TEXT PRIMARY KEY, value TEXT);
                   INSERT OR REPLACE INTO sandbox VALUES ('name', '$sandbox'), ('built_at', '$built_at');"
    echo "build.sh: built sandbox $sandbox as SQLite database $db" >&2
    printf '{"path":"%s","database":"%s","scratch":"%s","built_at":"%s"}\n' "$dir" "$db" "$scratch" "$built_at"
else
    mkdir -p "$dir/$sandbox"
    printf '%s\n' "$built_at" > "$dir/$sandbox/built_at"
    echo "build.sh: built sandbox $sandbox as directory $dir/$sandbox" >&2
    printf '{"path":"%s","scratch":"%s","built_at":"%s"}\n' "$dir/$sandbox" "$scratch" "$built_at"
fi
