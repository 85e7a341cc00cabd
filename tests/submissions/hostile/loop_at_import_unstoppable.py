"""An endless loop at import that swallows the grader's alarm: only the OS can stop it."""
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
