"""MCP: tiergate's image generation, routing, budgets and batches as tools for agents."""
