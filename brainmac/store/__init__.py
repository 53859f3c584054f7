"""The compiled store: a network compiled once to a directory, run many times from disk.

A store is a directory holding ``manifest.json`` (format version, profile, dt, seed, the
model's description and quantization report, and every array's dtype, shape and checksum)
and one flat ``.npy`` file per array of :data:`brainmac.compile.compiled.ARRAY_DOCS`.

>>> from brainmac.store import write_store, open_store          # doctest: +SKIP
>>> write_store(models.build("brunel", order=250), "brunel.store")
>>> compiled = open_store("brunel.store")     # memory-mapped, validated
>>> Simulator(compiled).run(1000.0)

See ``docs/storage.md`` for the format, the checks and the measured figures.
"""

from brainmac.store.reader import open_store, read_manifest, verify_checksums
from brainmac.store.writer import FORMAT_VERSION, is_store_dir, write_store

__all__ = ["FORMAT_VERSION", "is_store_dir", "open_store", "read_manifest", "verify_checksums",
           "write_store"]
