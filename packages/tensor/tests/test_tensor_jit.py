"""The JIT replays a function's kernels with new inputs and state, equal to running it; it refuses what it
cannot replay."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.tensor import Jit, JitError, Tensor, jit, no_grad, realize, stats


class LinearModel:
    """y = x @ w + b trained by SGD with assign: the shape of every training step."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w = Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
        self.b = Tensor(np.zeros(3, np.float32), requires_grad=True)

    def step(self, x: Tensor, y: Tensor) -> Tensor:
        loss = ((x @ self.w + self.b - y) ** 2).mean()
        self.zero_grad()
        loss.backward()
        with no_grad():
            for param in (self.w, self.b):
                grad = param.grad
                assert grad is not None
                param.assign(param - grad * 0.1)
            realize(self.w, self.b)
        return loss

    def zero_grad(self) -> None:
        self.w.grad = self.b.grad = None


def _batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        (rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32))
        for _ in range(count)
    ]


def test_jitted_training_equals_eager_training() -> None:
    eager, jitted = LinearModel(0), LinearModel(0)
    step = jit(jitted.step)
    for x, y in _batches(6):
        want = eager.step(Tensor(x), Tensor(y)).item()
        got = step(Tensor(x), Tensor(y))
        assert got.item() == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(jitted.w.numpy(), eager.w.numpy(), rtol=1e-6)
    np.testing.assert_allclose(jitted.b.numpy(), eager.b.numpy(), rtol=1e-6)


def test_replays_run_only_the_captured_kernels() -> None:
    model = LinearModel(2)
    step = jit(model.step)
    batches = _batches(5)
    for x, y in batches[:2]:
        step(Tensor(x), Tensor(y))
    built = stats.programs_built
    for x, y in batches[2:]:
        step(Tensor(x), Tensor(y))
    assert stats.programs_built == built
    assert step.plan is not None
    assert len(step.plan.replay.launches) > 0


@pytest.mark.cpu_default
def test_a_cpu_replay_is_one_native_call_and_equals_the_kernel_by_kernel_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    replay_module = importlib.import_module("lamina.engine.replay")
    native_model, loop_model = LinearModel(3), LinearModel(3)
    native_step = jit(native_model.step)
    batches = _batches(5)
    for x, y in batches[:2]:
        native_step(Tensor(x), Tensor(y))
    with monkeypatch.context() as patched:
        patched.setattr(replay_module, "_launch_graph", lambda device, launches, variables, fixed: None)
        loop_step = jit(loop_model.step)
        for x, y in batches[:2]:
            loop_step(Tensor(x), Tensor(y))
    assert native_step.plan is not None
    assert native_step.plan.replay.graph is not None
    assert loop_step.plan is not None
    assert loop_step.plan.replay.graph is None
    for x, y in batches[2:]:
        assert native_step(Tensor(x), Tensor(y)).item() == loop_step(Tensor(x), Tensor(y)).item()
    np.testing.assert_array_equal(native_model.w.numpy(), loop_model.w.numpy())


def test_each_replay_returns_a_new_tensor_and_keeps_earlier_results() -> None:
    @jit
    def double(x: Tensor) -> Tensor:
        return x * 2

    results = [double(Tensor(np.full(4, float(value), np.float32))) for value in range(5)]
    for value, result in enumerate(results):
        np.testing.assert_array_equal(result.numpy(), np.full(4, 2.0 * value, np.float32))


def test_tuples_and_none_are_returned_like_the_function_does() -> None:
    @jit
    def both(x: Tensor) -> tuple[Tensor, Tensor]:
        return x + 1, x.sum()

    for value in range(4):
        plus, total = both(Tensor(np.full(3, float(value), np.float32)))
        np.testing.assert_array_equal(plus.numpy(), np.full(3, value + 1.0, np.float32))
        assert total.item() == 3.0 * value

    state = Tensor(np.zeros(2, np.float32)).realize()

    @jit
    def bump(x: Tensor) -> None:
        state.assign(state + x)
        state.realize()

    for _ in range(4):
        assert bump(Tensor(np.ones(2, np.float32))) is None
    np.testing.assert_array_equal(state.numpy(), np.full(2, 4.0, np.float32))


def test_gradients_left_by_a_replay_are_cleared_not_stale() -> None:
    model = LinearModel(3)
    step = jit(model.step)
    for x, y in _batches(3):
        step(Tensor(x), Tensor(y))
    assert model.w.grad is None


def test_another_shape_is_refused() -> None:
    step = jit(lambda x: x * 2)
    for _ in range(2):
        step(Tensor(np.ones(3, np.float32)))
    with pytest.raises(JitError, match="arguments unlike the captured call"):
        step(Tensor(np.ones(4, np.float32)))


def test_another_python_value_is_refused_and_reset_captures_again() -> None:
    step: Jit[[Tensor, float], Tensor] = jit(lambda x, scale: x * scale)
    for _ in range(3):
        step(Tensor(np.ones(2, np.float32)), 2.0)
    with pytest.raises(JitError, match="arguments unlike the captured call"):
        step(Tensor(np.ones(2, np.float32)), 3.0)
    step.reset()
    for _ in range(3):
        result = step(Tensor(np.ones(2, np.float32)), 3.0)
    np.testing.assert_array_equal(result.numpy(), np.full(2, 3.0, np.float32))


def test_reading_a_value_inside_is_refused() -> None:
    @jit
    def logged(x: Tensor) -> Tensor:
        if x.sum().item() > 100:
            return x
        return x * 2

    logged(Tensor(np.ones(2, np.float32)))
    with pytest.raises(JitError, match="reading a tensor's values"):
        logged(Tensor(np.ones(2, np.float32)))


def test_uploading_host_data_inside_is_refused() -> None:
    @jit
    def noisy(x: Tensor) -> Tensor:
        return x + Tensor(np.ones(2, np.float32))

    noisy(Tensor(np.ones(2, np.float32)))
    with pytest.raises(JitError, match="making a Tensor from host data"):
        noisy(Tensor(np.ones(2, np.float32)))


def test_a_state_tensor_not_computed_before_the_capture_is_refused() -> None:
    holder: list[Tensor] = []

    @jit
    def accumulate(x: Tensor) -> Tensor:
        state = Tensor.zeros(2) if not holder else holder[0]
        holder[:] = [Tensor.zeros(2)]
        holder[0].assign(state + x)
        return holder[0]

    accumulate(Tensor(np.ones(2, np.float32)))
    with pytest.raises(JitError, match="was not computed before the call"):
        accumulate(Tensor(np.ones(2, np.float32)))


def test_returning_something_else_is_refused() -> None:
    @jit
    def numbers(x: Tensor) -> list[Tensor]:
        return [x]

    numbers(Tensor(np.ones(2, np.float32)))
    with pytest.raises(JitError, match="must return a Tensor, a tuple of Tensors or None"):
        numbers(Tensor(np.ones(2, np.float32)))


SETTINGS: dict[str, float] = {"scale": 2.0}


def test_a_global_value_changed_after_the_capture_is_not_replayed_stale() -> None:
    @jit
    def scaled(x: Tensor) -> Tensor:
        return x * SETTINGS["scale"]

    ones = np.ones(2, np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(scaled(Tensor(ones)).numpy(), [2.0, 2.0])
    SETTINGS["scale"] = 5.0
    try:
        for _ in range(3):
            np.testing.assert_array_equal(scaled(Tensor(ones)).numpy(), [5.0, 5.0])
    finally:
        SETTINGS["scale"] = 2.0
    assert scaled.recaptures == 1


def test_a_closure_value_changed_after_the_capture_is_not_replayed_stale() -> None:
    state = {"offset": 1.0}

    @jit
    def shifted(x: Tensor) -> Tensor:
        return x + state["offset"]

    for offset in (1.0, 1.0, 1.0, 4.0, 4.0, -2.0):
        state["offset"] = offset
        np.testing.assert_array_equal(shifted(Tensor(np.zeros(2, np.float32))).numpy(), [offset, offset])
    assert shifted.recaptures == 2


class ScaledModel(LinearModel):
    """LinearModel whose learning rate is an attribute a schedule changes between steps."""

    lr = 0.1

    def step(self, x: Tensor, y: Tensor) -> Tensor:
        loss = ((x @ self.w + self.b - y) ** 2).mean()
        self.zero_grad()
        loss.backward()
        with no_grad():
            for param in (self.w, self.b):
                grad = param.grad
                assert grad is not None
                param.assign(param - grad * self.lr)
            realize(self.w, self.b)
        return loss


def test_a_learning_rate_changed_between_replays_is_used() -> None:
    eager, jitted = ScaledModel(0), ScaledModel(0)
    step = jit(jitted.step)
    for number, (x, y) in enumerate(_batches(8)):
        eager.lr = jitted.lr = 0.1 if number < 4 else 0.01
        want = eager.step(Tensor(x), Tensor(y)).item()
        assert step(Tensor(x), Tensor(y)).item() == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(jitted.w.numpy(), eager.w.numpy(), rtol=1e-6)
    assert step.recaptures == 1


def test_a_global_tensor_rebound_after_the_capture_is_not_replayed_stale() -> None:
    global BIAS
    BIAS = Tensor(np.ones(2, np.float32)).realize()

    @jit
    def biased(x: Tensor) -> Tensor:
        return x + BIAS

    zeros = np.zeros(2, np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(biased(Tensor(zeros)).numpy(), [1.0, 1.0])
    BIAS = Tensor(np.full(2, 7.0, np.float32)).realize()
    np.testing.assert_array_equal(biased(Tensor(zeros)).numpy(), [7.0, 7.0])


BIAS = Tensor(np.zeros(2, np.float32))


def test_returning_an_input_unchanged_works_on_every_call() -> None:
    @jit
    def identity(x: Tensor) -> Tensor:
        return x

    for value in range(4):
        result = identity(Tensor(np.full(3, value, np.float32)))
        np.testing.assert_array_equal(result.numpy(), np.full(3, value, np.float32))


def test_returning_an_input_beside_a_computed_result_and_a_prior_tensor() -> None:
    made_before = Tensor(np.arange(3, dtype=np.float32)).realize()

    @jit
    def several(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return x, x * 2, made_before

    for value in range(4):
        same, doubled, prior = several(Tensor(np.full(3, value, np.float32)))
        np.testing.assert_array_equal(same.numpy(), np.full(3, value))
        np.testing.assert_array_equal(doubled.numpy(), np.full(3, 2 * value))
        np.testing.assert_array_equal(prior.numpy(), [0.0, 1.0, 2.0])


def test_a_tensor_replaced_outside_the_function_is_read_anew() -> None:
    # The function reads `weight` from its closure; new values assigned to it between calls (new weights loaded)
    # must reach the kernels: a replay of the old capture would read the old buffer.
    weight = Tensor([1.0, 2.0]).realize()

    @jit
    def scaled(x: Tensor) -> Tensor:
        return x * weight

    x = Tensor([3.0, 4.0])
    for _ in range(3):
        np.testing.assert_array_equal(scaled(x).numpy(), [3.0, 8.0])
    weight.assign(Tensor([10.0, 20.0]))
    np.testing.assert_array_equal(scaled(x).numpy(), [30.0, 80.0])
    weight[0] = 5.0
    np.testing.assert_array_equal(scaled(x).numpy(), [15.0, 80.0])
    np.testing.assert_array_equal(scaled(x).numpy(), [15.0, 80.0])
