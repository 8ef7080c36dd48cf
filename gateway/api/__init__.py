"""HTTP routes and the OpenAI-shaped request/response models."""
