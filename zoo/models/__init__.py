"""Model definitions: one folder per family (`resnet/`: its spec, blocks, builder and named presets), the
registry of every family's named variants, `build` (name or spec -> functional model), zoo's layers, MAC
counts and summaries.

Imports only the base modules (`zoo.errors`, `zoo.runtime`, ...): the lowest layer."""
