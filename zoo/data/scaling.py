"""The preprocessing modes' names and constants, apart from the Keras layers that apply them
(`zoo.data.preprocess`), so that recipes validate a mode without importing Keras.

>>> MODES
('minus1_1', 'centered', 'unit', 'standardize')
"""

# mode -> (scale, offset) applied to raw 0..255 pixels; "standardize" is fitted on the training images.
RESCALE = {
    "minus1_1": (2 / 255, -1.0),  # 2x/255 - 1  (seed 000)
    "centered": (1 / 255, -0.5),  # x/255 - 0.5 (seed 001)
    "unit": (1 / 255, 0.0),       # x/255       (seeds 002, 004)
}
MODES = (*RESCALE, "standardize")
