"""Model definitions: `ResNetSpec` (every knob as data), the registry of named variants, the functional
builders (stem, residual block, head), zoo's layers, MAC counts, summaries and one-line descriptions.

Imports only the base modules (`zoo.errors`, `zoo.runtime`, ...): the lowest layer."""
