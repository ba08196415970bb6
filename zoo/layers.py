"""The one custom layer zoo needs, registered so `.keras` files reload without `custom_objects`."""

import keras


@keras.saving.register_keras_serializable(package="zoo")
class ChannelPad(keras.layers.Layer):
    """Append `extra` zero channels to a channels-last tensor (He et al.'s option-A shortcut).

    >>> import numpy as np
    >>> tuple(ChannelPad(2)(np.ones((1, 2, 2, 3), "float32")).shape)
    (1, 2, 2, 5)
    """

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"ChannelPad extra must be an integer >= 0, got {extra!r}")
        self.extra = extra

    def call(self, inputs):
        return keras.ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + self.extra)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}
