"""Defaults the service's settings read without importing torch: cvae-serve's supervisor of worker
processes imports the settings, and torch alone is 224 MB resident in every process that imports it."""

# A lone image costs a whole block: measured on the project's CPU through the service, 8 rows answer a lone
# /v1/sample n=1 in 3.3 ms (16 rows: 5.1 ms, 4 rows: 2.3 ms) and serve 92% of 16 rows' images per second at
# n=64 (4 rows: 72%). A GPU wants larger blocks (CVAE_BLOCK_ROWS).
DEFAULT_BLOCK_ROWS = 8
# The largest image an upload may declare (a decompression bomb's guard): 25 megapixels.
DEFAULT_MAX_PIXELS = 25_000_000
