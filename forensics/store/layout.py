"""The dataset's folder layout, named once: `DIR/<table>/part-*.parquet`, the manifest, the
dedup keys, the route rules, and the prefix of files not yet committed."""

MANIFEST = "manifest.json"
KEYS_DIR = "_keys"
ROUTES_FILE = "routes.toml"
TMP_PREFIX = ".tmp-"
