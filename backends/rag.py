"""Not written yet: owned by the rag work. Registers its backends when imported."""
