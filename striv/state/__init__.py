"""State: executions and dimensions as kept in git, checked, loaded and dumped as one document.

The top layer: it may import every app, and only the URL conf imports it. ``schema`` declares the document and
checks it, ``load`` evaluates a file and replaces the database's executions and dimensions with it, ``dump`` writes
them back in the same format, ``api`` serves both at /api/state.
"""
