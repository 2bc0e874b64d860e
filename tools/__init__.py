"""Chat tools: typed Python functions -> JSON schema (pydantic), and the tool-calling loop.

Only :mod:`tools.loop` runs tools. :mod:`tools.schema` turns a function into a :class:`Tool`;
:mod:`tools.flightai` and :mod:`tools.builtin` hold the built-in tools.
"""
