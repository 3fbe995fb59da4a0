"""Engine helpers shared by every backend: the request cache and structured output."""
