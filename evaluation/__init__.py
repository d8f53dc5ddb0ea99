"""The last stage: contest simulation (n@k, pass@k against sample budget) and HumanEval, with reports."""
