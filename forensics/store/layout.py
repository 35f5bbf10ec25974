"""The dataset's folder layout, named once: `DIR/<table>/part-*.parquet`, the manifest, the
dedup keys, the route rules, the writer's lock, and where files not yet committed live.

Table folders hold only committed parts (a reader globbing `DIR/<table>/*.parquet` after any
completed command reads exactly the dataset); parts being written live in `DIR/.staging/`.
"""

MANIFEST = "manifest.json"
KEYS_DIR = "_keys"
ROUTES_FILE = "routes.toml"
TMP_PREFIX = ".tmp-"
LOCK_FILE = ".lock"
STAGING_DIR = ".staging"
