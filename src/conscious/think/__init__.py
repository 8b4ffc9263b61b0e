"""The thinker: the context window as a cache, the prompt, the model servers, decisions, memory."""
