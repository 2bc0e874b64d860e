"""Not written yet: owned by the llm_tasks work. Registers its backends when imported."""
