"""The GGUF model on this machine: find, check and load it once (:mod:`.models`), read its
header in pure Python (:mod:`.gguf`), download it (:mod:`.pull`), and stream from it through
llama-cpp-python (:mod:`.provider`, with :mod:`.prefix_cache` and :mod:`.speculative`).

Only this package imports ``llama_cpp``; importing it does not (that happens on first load).
"""
