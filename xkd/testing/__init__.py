"""Test fixtures shipped with the library: tiny models and tokenizers built in-process, and fake
run folders. Used by xkd's own tests, the app's AppTest suite and the benchmarks' smoke checks;
importing this package has no side effects.
"""
