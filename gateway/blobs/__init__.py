"""Where tiergate keeps bytes too large for Redis (batch files, results), picked by URL.

``open_blobs("file://DIR")`` (a local directory; workers on one host share it) or
``open_blobs("s3://bucket/prefix?endpoint=…")`` (any S3-compatible service), one small
contract (``Blobs``) over both, through obstore (Rust's ``object_store``).
"""

from gateway.blobs.store import BlobNotFound, Blobs, open_blobs

__all__ = ["BlobNotFound", "Blobs", "open_blobs"]
