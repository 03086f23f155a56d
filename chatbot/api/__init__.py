"""The HTTP face of ragbot: health, OpenAI-compatible chat, admin REST, feedback. It never imports the UI:
`chatbot.server` mounts the Gradio apps beside it."""
