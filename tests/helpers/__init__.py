"""Scripts the tests run in subprocesses (e.g. with fake devices, which must be set before JAX loads)."""
