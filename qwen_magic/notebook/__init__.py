"""The notebook front end: ``%%qwen`` / ``%qwen`` (:mod:`.magics`), their grammar
(:mod:`.grammar`), the live cell output (:mod:`.output`) and new cells (:mod:`.insert`).

Only this package and :mod:`qwen_magic.widgets` import IPython.
"""
