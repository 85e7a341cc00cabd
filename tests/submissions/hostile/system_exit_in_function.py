"""predict_top5 raises SystemExit."""


def predict_top5(model, weights, image):
    raise SystemExit(2)
