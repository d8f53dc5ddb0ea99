"""Pretraining: code corpus, SentencePiece tokenizer, seqio tasks and the pretraining objective."""
