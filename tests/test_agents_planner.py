"""The MPC planner against a stand-in world model whose reward is known (not learned)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsswm.agents.errors import AgentError
from lsswm.agents.planner import Planner, PlanningAgent
from lsswm.agents.planner_config import PlannerConfig
from lsswm.agents.standin import LEFT, RIGHT, STAY, KnownRewardStandIn

# A line of 10 cells, the ball starts in cell 3. Cell 2 (one step left) pays 0.3 per step,
# cell 7 (four steps right) pays 1.0 per step, cell 1 is a pit that ends the episode. The
# greedy choice (left, 0.3 at once) loses to the long way right over 6 steps; a uniform
# sample finds that way with probability 1/81, so the search has to work for it. (With
# small populations CEM can settle on the left: see docs/agents.md.)
REWARDS = [0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
START, HORIZON = 3, 6


@pytest.fixture
def standin():
    return KnownRewardStandIn(REWARDS, pits=(1,))


def stream_at(model: KnownRewardStandIn, cell: int):
    stream = model.start_stream(1)
    stream.observe_frames(torch.as_tensor(model.frame_of(cell))[None, None], torch.zeros(1, 1))
    return stream


def test_standin_optimum_is_the_long_way_right(standin):
    best = standin.best_return(START, HORIZON)
    assert best == pytest.approx(3.0)  # right x4 (arrive at 7), then stay twice
    assert standin.sequence_return(START, [RIGHT] * 4 + [STAY] * 2) == pytest.approx(best)
    assert standin.sequence_return(START, [LEFT, LEFT, STAY]) == pytest.approx(0.3)  # the pit


@pytest.mark.parametrize("method", ["cem", "mppi"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planner_finds_the_best_sequence(standin, method, seed):
    config = PlannerConfig(
        method=method, horizon=HORIZON, population=1024, iterations=4, elites=16, discount=1.0
    )
    stream = stream_at(standin, START)
    plan = Planner(3, config, seed=seed).plan(stream)
    assert plan.predicted_return == pytest.approx(standin.best_return(START, HORIZON))
    assert plan.actions.tolist() == [RIGHT] * 4 + [STAY] * 2
    assert standin.sequence_return(START, plan.actions.tolist()) == pytest.approx(3.0)
    assert stream.cells.tolist() == [START]  # planning imagines on copies only


def test_random_shooting_matches_enumeration_on_a_short_horizon(standin):
    # 3^3 = 27 sequences: 200 uniform samples cover them with near certainty.
    config = PlannerConfig(method="random", horizon=3, population=200, iterations=1, elites=1)
    plan = Planner(3, config, seed=0).plan(stream_at(standin, START))
    discount = config.discount
    assert plan.predicted_return == pytest.approx(standin.best_return(START, 3, discount))


def test_termination_stops_the_predicted_return(standin):
    # From cell 2 the pit is one step left: nothing after it counts (0.3 if it did).
    config = PlannerConfig(method="cem", horizon=2, population=64, iterations=2, discount=1.0)
    returns, _ = Planner(3, config).evaluate(
        stream_at(standin, 2), torch.tensor([[LEFT, RIGHT], [STAY, STAY]])
    )
    assert returns.tolist() == pytest.approx([0.0, 0.6])


def test_planning_agent_executes_the_plan_and_replans(standin):
    config = PlannerConfig(
        horizon=HORIZON, population=1024, iterations=4, elites=16, discount=1.0, replan_every=2
    )
    agent = PlanningAgent(standin, config, seed=0)
    cell = START
    agent.reset(0, standin.frame_of(cell), {})
    actions = []
    for _ in range(4):
        action = agent.act(standin.frame_of(cell), {})
        actions.append(action)
        cell = min(max(cell + {STAY: 0, RIGHT: 1, LEFT: -1}[action], 0), 9)
    assert actions == [RIGHT] * 4
    assert agent.stream.cells.tolist() == [START + 3]  # it observed every real frame but the last
    info = agent.episode_info()
    assert info["planning_calls"] == 2  # replanning every 2 real steps
    assert info["sequences_imagined"] == 2 * 4 * 1024


def test_planner_options_are_checked():
    with pytest.raises(AgentError, match="method"):
        PlannerConfig(method="gradient")
    with pytest.raises(AgentError, match="elites"):
        PlannerConfig(population=4, elites=8)
    with pytest.raises(AgentError, match="replan_every"):
        PlannerConfig(horizon=2, replan_every=3)
    with pytest.raises(AgentError, match="2 weights for 1 --critic paths"):
        PlannerConfig(critic="value.safetensors", critic_weights="1,4")
    with pytest.raises(AgentError, match="comma-separated numbers"):
        PlannerConfig(critic="a.safetensors,b.safetensors", critic_weights="1,four")
    assert PlannerConfig(critic="a,b", critic_weights="1,4").critic_weight_values() == [1, 4]


def test_planning_agent_on_a_tiny_world_model_counts_its_cost(tiny_frame_model):
    model = tiny_frame_model(image_size=32, action_size=5, chunk_size=2)
    config = PlannerConfig(
        horizon=3, population=4, iterations=2, elites=2, denoising_steps=1, replan_every=1
    )
    agent = PlanningAgent(model, config, seed=0)
    frame = np.zeros((32, 32, 3), np.uint8)
    agent.reset(0, frame, {})
    seen = agent.stream.frames_seen
    actions = [agent.act(frame, {}) for _ in range(3)]
    assert all(0 <= a < 5 for a in actions)
    assert agent.stream.frames_seen == seen + 2  # real frames only; plans never commit
    info = agent.episode_info()
    assert info["planning_calls"] == 3
    # Frames of one chunk (2 here) are denoised jointly: per iteration, 3 imagined frames take
    # 2 or 3 chunks of (1 denoising + 1 clean) passes; plus one pass observing the real frame.
    low, high = 2 * 2 * 2, 2 * 3 * 2 + 1
    assert low <= info["model_passes_per_step"] <= high
    # Imagination passes carry the whole population (4 rows), observation passes one row.
    assert info["model_rows_per_step"] > 3 * info["model_passes_per_step"]


def test_shared_noise_scores_a_candidate_alike_in_any_population(tiny_frame_model):
    """With common random numbers a candidate's score depends on its actions alone: repeats
    score the same and scoring it alone gives its score in the population. With a draw per
    candidate, repeats score differently."""
    model = tiny_frame_model(image_size=32, action_size=5, chunk_size=2)
    with torch.no_grad():  # the zero-initialised maps (reward head, action gates) made random
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(std=0.5)
    frame = np.zeros((32, 32, 3), np.uint8)
    sequences = torch.tensor([[1, 2, 3], [4, 0, 1], [1, 2, 3], [2, 2, 2]])

    def scores(shared_noise, rows):
        agent = PlanningAgent(
            model, PlannerConfig(horizon=3, denoising_steps=1, shared_noise=shared_noise), seed=0
        )
        agent.reset(0, frame, {})
        return agent.planner.evaluate(agent.stream, rows)[0]

    shared = scores(True, sequences)
    assert shared[0] == shared[2]
    assert not torch.isclose(shared[0], shared[1])
    for row in range(len(sequences)):
        torch.testing.assert_close(scores(True, sequences[row : row + 1])[0], shared[row])
    independent = scores(False, sequences)
    assert not torch.isclose(independent[0], independent[2])


def test_warm_start_carries_the_shifted_distribution(standin):
    config = PlannerConfig(method="cem", horizon=4, population=64, iterations=2, elites=4)
    planner = Planner(3, config, seed=0)
    stream = standin.start_stream(1)
    planner.plan(stream)
    final = planner._previous_probs.clone()
    planner.shift(1)
    start = planner._initial_probs()
    uniform = torch.full((3,), 1 / 3)
    mix = config.warm_start
    assert torch.allclose(start[:3], mix * final[1:] + (1 - mix) * uniform)
    assert torch.allclose(start[3], uniform)  # beyond the old plan: uniform
    cold = Planner(3, PlannerConfig(horizon=4, warm_start=0.0), seed=0)
    cold.plan(stream)
    cold.shift(1)
    assert torch.allclose(cold._initial_probs(), torch.full((4, 3), 1 / 3))


def test_bench_planner_writes_a_table_and_json(tmp_path, capsys):
    import json

    from lsswm.cli.main import main

    argv = ["bench", "planner", "--setting", "4,3,1,1,1", "--setting", "4,3,1,1,3"]
    assert main([*argv, "--steps", "3", "--warmup", "1", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "planner_bench.json").read_text())
    first, second = saved["records"]
    assert first["setting"] == "P4 H3 I1 d1 r1" and first["seconds_per_step"] > 0
    # Replanning every 3 steps costs fewer model passes per real step than every step.
    assert second["model_passes_per_step"] < first["model_passes_per_step"]
    assert "Planner cost per real step" in capsys.readouterr().out


def test_bench_planner_times_the_planner_with_its_heads(tmp_path):
    import json

    from lsswm.agents.bench_planner import tiny_preset_model
    from lsswm.agents.critic import Critic, CriticConfig, save_critic
    from lsswm.cli.main import main

    width = tiny_preset_model().config.d_model  # the pooled features the heads read
    paths = [tmp_path / f"{name}.safetensors" for name in ("value", "target", "motion")]
    for path in paths:
        save_critic(path, Critic(CriticConfig(feature_dim=width, hidden=8)), {})
    argv = ["bench", "planner", "--setting", "4,3,1,1,1", "--steps", "2", "--warmup", "1"]
    argv += ["--critic", f"{paths[0]},{paths[1]}", "--critic-weights", "1,4"]
    assert main([*argv, "--motion", str(paths[2]), "--out", str(tmp_path)]) == 0
    planner = json.loads((tmp_path / "planner_bench.json").read_text())["records"][0]["planner"]
    assert planner["critic"] == f"{paths[0]},{paths[1]}" and planner["critic_weights"] == "1,4"
    assert planner["motion"] == str(paths[2])
