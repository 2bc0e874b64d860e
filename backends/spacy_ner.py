"""Not written yet: owned by the spacy_ner work. Registers its backends when imported."""
