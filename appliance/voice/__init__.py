"""The voice path: turn-taking and barge-in state machines, sentence chunking, per-turn
timelines (pure, no pipecat), and the pipecat pipeline (``pipeline``, ``processors``),
imported lazily."""
