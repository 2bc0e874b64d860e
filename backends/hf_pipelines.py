"""Not written yet: owned by the hf_pipelines work. Registers its backends when imported."""
