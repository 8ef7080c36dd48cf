"""tiergate: an OpenAI-compatible image gateway that routes prompts between model tiers."""
