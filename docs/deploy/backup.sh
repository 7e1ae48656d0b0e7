#!/bin/sh
# Back up a pypireg data directory while the registry serves (docs/deploying.md):
#     backup.sh /var/lib/pypireg /var/backups/pypireg/$(date +%F)
# The catalog first, then the files. DEST must not exist yet; it ends up a data directory
# of its own, which is what a restore puts back.
set -eu
data=${1:?usage: backup.sh DATA_DIR DEST_DIR}
dest=${2:?usage: backup.sh DATA_DIR DEST_DIR}
if [ ! -f "$data/catalog.db" ]; then
    echo "backup.sh: no registry at $data (no catalog.db)" >&2
    exit 1
fi
mkdir -- "$dest"

# 1. The catalog, with SQLite's online backup: one consistent snapshot, recent commits
#    still in the write-ahead log included, while workers go on reading and writing.
python3 - "$data/catalog.db" "$dest/catalog.db" <<'PY'
import sqlite3
import sys

source, target = (sqlite3.connect(path) for path in sys.argv[1:])
source.backup(target)
target.close()
source.close()
PY

# 2. Then the files. Every file the snapshot lists was stored before its row committed,
#    and files are only removed by deletes and gc, so this copy holds all of them.
cp -a -- "$data/files" "$dest/files"
echo "backed up $data to $dest"
