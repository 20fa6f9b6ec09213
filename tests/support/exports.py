"""Walk exports of a catalogue with given vectors (no training), for export, CLI and serving
tests."""

from tfgrad.export.versioned import save_versioned
from tfgrad.export.walk import WalkServingModule
from tfgrad.spaces import LinearMove
from tfgrad.systems.cgir import catalogue_space


def walk_module(catalogue, item_vectors, attribute_vectors, step_size=0.1, **kwargs):
    """A `WalkServingModule` over the catalogue's ids, names and true relevance, with the
    linear move along `attribute_vectors`."""
    space = catalogue_space(catalogue, item_vectors, LinearMove(attribute_vectors))
    return WalkServingModule(space, step_size, **kwargs)


def save_walk_export(catalogue, item_vectors, attribute_vectors, base, metadata=None,
                     **kwargs):
    """Saves `walk_module(...)` as a new version under `base`; returns its path."""
    return save_versioned(walk_module(catalogue, item_vectors, attribute_vectors, **kwargs),
                          base, {"attributes": list(catalogue.attributes), **(metadata or {})})
