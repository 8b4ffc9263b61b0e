"""Model servers behind one ``LLMBackend`` protocol (``base.py``); ``scripted.py`` is its fake."""
