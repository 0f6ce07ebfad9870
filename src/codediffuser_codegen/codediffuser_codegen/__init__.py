"""Code generation: VLM-written programs over the perception API, sandboxed, offline default."""
