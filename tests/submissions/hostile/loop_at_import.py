"""An endless loop at import: the statement is stopped, the rest of the module still loads."""
while True:
    pass
