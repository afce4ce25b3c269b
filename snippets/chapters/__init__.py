"""The book's own code: its chapters' experiments, figures and deliberately broken code.

Each module serves the chapters named in its docstring and is tested like the core,
but it is not the library a reader copies from (that is :mod:`snippets` itself, whose
modules never import this subpackage). :mod:`snippets.chapters.config` is the one
place that reads the chapters' settings from the environment;
:mod:`snippets.chapters.broken` holds code that is wrong on purpose.
"""
