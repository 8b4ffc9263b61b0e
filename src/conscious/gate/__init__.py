"""The gate: plain code between the model's proposal and any agent — policy, budgets, approvals."""
