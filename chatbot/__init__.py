"""ragbot: a support chatbot whose documents both feed every answer and teach the generator."""
