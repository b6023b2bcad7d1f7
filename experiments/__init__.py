"""lsswm.experiments: reproducible experiments, the top layer (it may use every other one).

Modules: memory (`lsswm experiment memory`: hybrid vs causal-window on revisited places),
commands (their CLI registration). This file imports nothing, so `lsswm --help` stays fast.
"""
