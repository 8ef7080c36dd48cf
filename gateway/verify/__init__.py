"""Verification: read an image's text back with OCR, score it against the text the prompt
asked for, and decide whether to escalate to a better tier."""
