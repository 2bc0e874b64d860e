"""Not written yet: owned by the openai_chat work. Registers its backends when imported."""
