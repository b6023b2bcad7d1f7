"""The `lsswm` console command: one dispatcher, subcommands contributed by each subpackage."""
