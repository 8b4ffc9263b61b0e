"""conscious: a local LLM as a continuous orchestrator that observes, decides and delegates."""

__version__ = "0.1.0"
