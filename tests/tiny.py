"""The tiny synthetic setting the CLI tests share (seconds per pretrain on one core)."""

TINY_SYNTHETIC = [
    "data.synthetic.classes=6",
    "data.synthetic.subjects=4",
    "data.synthetic.takes=2",
    "data.synthetic.cameras=2",
    "data.split=xview",
    "data.preprocess.frames=16",
    "encoder.name=gru",
    "encoder.hidden_size=16",
    "encoder.num_layers=1",
]
