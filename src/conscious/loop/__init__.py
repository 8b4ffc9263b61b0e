"""The loop: batches pending observations, decides each batch by rule or by the thinker, commits."""
