"""Flags shared by the table scripts (defined once: they import together)."""

from absl import flags

ARG = flags.DEFINE_string(
    "arg", "small", "Config argument for every run of the table (e.g. "
    "'small'; '' for the thesis budget; images also 'small,no_warmup')."
)
DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "Local data folder, set as config.data.dir of every run "
    "('' uses tfds for the image datasets)."
)
