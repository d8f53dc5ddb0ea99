"""Filtering on example tests, test-input generation, behavioural clustering, selection."""
