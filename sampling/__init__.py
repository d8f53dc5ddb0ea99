"""Large-scale sampling on Ray into a resumable sample store."""
