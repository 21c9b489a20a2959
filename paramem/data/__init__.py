"""Data layer: sources (local files, hub data sets, the embedded corpus) and one datamodule.

Names resolve lazily, so ``paramem.data.embedded`` (pure Python) imports without Lightning.
"""

from importlib import import_module

_EXPORTS = {
    "EmbeddedSource": "paramem.data.corpus",
    "LocalFileSource": "paramem.data.local",
    "MIADataModule": "paramem.data.datamodule",
    "MimirSource": "paramem.data.hub",
    "PyDocsSource": "paramem.data.corpus",
    "Source": "paramem.data.sample",
    "TOFUSource": "paramem.data.hub",
    "WikiMIASource": "paramem.data.hub",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'paramem.data' has no attribute {name!r}")
