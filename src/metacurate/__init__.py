"""metacurate: MetaCLIP-style curation of image-text pairs.

The pipeline follows the data: readers -> match -> count -> balance -> writers. The algorithm
modules (``match``, ``counting``, ``balancing``) are pure functions over Arrow/NumPy data; the
engine (``engine``) only decides where shards run.
"""

__version__ = "0.4.0"
