"""The ``chainrule`` command line's parts: safe expressions (``expr``) and the
``jacobian`` command (``jacobian``)."""
