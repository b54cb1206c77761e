"""Storage: small protocols (``base``) and their backends (``memory``, ``sql``)."""
