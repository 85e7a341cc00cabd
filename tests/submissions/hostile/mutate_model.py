"""extract_embedding answers correctly but then wipes the model's weights in place."""


def extract_embedding(model, batch):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        result = model.classifier[:6](torch.flatten(model.avgpool(model.features(batch)), 1))
        for parameter in model.parameters():
            parameter.mul_(0)
    model.train(was_training)
    return result
