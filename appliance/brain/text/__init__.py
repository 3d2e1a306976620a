"""Text output: reply parts -> sentences from templates/<lang>.toml, with numbers, dates and prices
verbalized per language for the voice."""
