"""Fine-tuning: CodeContests tasks, value-conditioning prompts, tempering, GOLD, value head."""
