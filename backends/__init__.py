"""Backends: one module per library, each implementing a protocol from ``backends.base``.

Concrete modules register factories in ``backends.registry`` when imported;
``backends.registry.load_all()`` imports them (cheaply: heavy libraries are imported
inside the factories).
"""
