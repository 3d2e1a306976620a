"""Understanding: language identification, the deterministic extractors, and the LLM proposal with
its validation. Words in, an Extraction out."""
