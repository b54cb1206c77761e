"""Containers: the engine (docker SDK, with timeouts), log redaction and the registry check."""
