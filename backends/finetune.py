"""Not written yet: owned by the finetune work. Registers its backends when imported."""
