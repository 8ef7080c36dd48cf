"""Batches: the OpenAI Files and Batch API, run by worker processes on a shared queue."""
