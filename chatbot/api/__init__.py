"""The HTTP face of ragbot: health, OpenAI-compatible chat, admin REST, feedback; the UI mounts beside it."""
