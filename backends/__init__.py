"""Backends: one module per library, each implementing a protocol from ``backends.base``.

Concrete modules register factories in ``backends.registry`` when imported;
``backends.registry.load_all()`` finds and imports every module of this package and its
sub-packages (no list to keep; cheap: heavy libraries are imported inside the factories).
"""
