"""The notebook front end: ``%%qwen`` / ``%qwen`` (:mod:`.magics`), their grammar
(:mod:`.grammar`), the ``%qwen`` subcommands (:mod:`.commands`), the background load at
``%load_ext`` (:mod:`.preload`), the live cell output (:mod:`.output`) and new cells
(:mod:`.insert`); and the kernel end of completion as you type (:mod:`.completer`).

Only this package and :mod:`qwen_magic.widgets` import IPython.
"""
