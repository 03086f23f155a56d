"""What the configured generator is, in one sentence a first-time user can act on (the demo's first screen)."""

from __future__ import annotations

from chatbot.models import ModelError, bundled_gguf
from chatbot.settings import BUNDLED, GenerationSettings, configure_environment, get_settings

PLUG_IN = ("For real answers plug in a larger model: `RAGBOT_BASE_MODEL` (a Hugging Face id or a folder), or "
           "`RAGBOT_OPENAI_BASE_URL` (an OpenAI-compatible server: vLLM, Ollama, llama.cpp); docs/generators.md "
           "(\"Plugging in a real generator\") has an example of each.")


def generator_summary(settings: GenerationSettings) -> str:
    """Which generator answers, how big it is, and how to plug in a real one."""
    if settings.openai_base_url:
        model = settings.openai_model_base or "(RAGBOT_OPENAI_MODEL_BASE is not set)"
        return f"Generator: {model} on the OpenAI-compatible server at {settings.openai_base_url}."
    if settings.base_model != BUNDLED:
        return f"Generator: {settings.base_model} (RAGBOT_BASE_MODEL), run on this machine."
    try:
        size = f", a {bundled_gguf().stat().st_size / 1e6:.0f} MB file"
    except ModelError:
        size = ""
    return ("Generator: the bundled SmolLM2-135M-Instruct (135 million parameters" + size + "), small enough "
            "to run offline on any CPU but often wrong or incomplete; `extractive` quotes the sources instead. "
            + PLUG_IN)


if __name__ == "__main__":  # `make demo` prints it first
    configure_environment()
    print(generator_summary(get_settings()))
