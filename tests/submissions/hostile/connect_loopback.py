"""Connects to a server on loopback (the test's), at import and inside conv_out."""
import socket

try:
    socket.create_connection(("127.0.0.1", {PORT}), timeout=2).sendall(b"leak")
except OSError as error:
    print("connect failed:", error)
