"""The boundary to the model tiers: what one call is, and the backends that make it.

``backend`` holds the ``ImageBackend`` protocol, the call/result types and litellm's backend
(the only module that imports litellm); ``direct`` is the direct HTTP path for OpenAI- and
MAI-shaped tiers; ``wire`` builds their requests and parses their answers.
"""
