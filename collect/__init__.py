"""lsswm.collect: trajectory datasets: recording, format, integrity, imports, training windows.

Modules (flat): ``collector`` (``lsswm collect``: resumable parallel driver), ``worker`` /
``ray_runner`` (local processes / Ray tasks), ``rollout`` + ``recorder`` (one episode into
contract-2 arrays), ``episode_store`` + ``manifest`` + ``fileio`` (the on-disk format,
docs/dataset-format.md), ``dataset`` (open / verify / info), ``windows`` (``WindowDataset``),
``policies*`` + ``maze_nav`` (collector policies), ``revisits``, ``import_*`` / ``importing``
/ ``export_minari``, ``bench``, ``toy_env`` (a tiny env for tests), ``commands`` (CLI).
Importing the package imports nothing heavy.
"""
