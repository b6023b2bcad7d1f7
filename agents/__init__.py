"""lsswm.agents: agents that act with a world model (see docs/agents.md).

- imagination_env: ``ImaginationVecEnv`` (SB3 VecEnv) / ``ImaginationEnv`` (Gymnasium) over a
  world model, started from real contexts (contexts: ``DatasetContexts``, ``LiveEnvContexts``).
- planner: ``Planner`` (CEM / MPPI / random shooting) and ``PlanningAgent`` (MPC in real
  episodes); options in planner_config.``PlannerConfig``.
- train_imagination: ``lsswm agents train-in-imagination`` (SB3 PPO/A2C inside the model).
- agent_factory.``make_agent``: random / oracle / planner / sb3:PATH for real envs;
  real_env.``run_episode`` scores an episode.
- results: the results-JSON header and writer of every suite (eval's included).

Importing this package imports nothing heavy; import the modules you need.
"""
