"""Data layer: sources (local files, hub data sets, the embedded corpus) and one datamodule."""

from paramem.data.corpus import EmbeddedSource
from paramem.data.datamodule import MIADataModule
from paramem.data.hub import MimirSource, TOFUSource, WikiMIASource
from paramem.data.local import LocalFileSource
from paramem.data.sample import Source

__all__ = ["EmbeddedSource", "LocalFileSource", "MIADataModule", "MimirSource", "Source", "TOFUSource",
           "WikiMIASource"]
