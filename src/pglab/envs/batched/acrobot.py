"""Acrobot-v1 as a batched tensor program: gymnasium's `AcrobotEnv` (Sutton and Barto's book dynamics, torques
-1, 0, +1 without noise, one RK4 step of `dt` 0.2 s, angles wrapped to [-pi, pi], velocities bounded at 4 pi and
9 pi), -1 per step and 0 on the terminating one, float32 observations
`[cos th1, sin th1, cos th2, sin th2, dth1, dth2]`, 500-step time limit.

Bit-exact on the cpu. Gymnasium steps numpy float64 scalars, so besides following its operations in its order (every
product, sum and quotient of `_dsdt`, `rk4`, `wrap` and `bound`), the functions must be the ones numpy calls, C's
libm:

- `sin` / `cos` of a float64 are libm's. `torch.sin` / `torch.cos` of float64 are a vectorized implementation that
  differs from libm by 1 ulp on about 0.2% of inputs, enough to make the chaotic double pendulum leave gymnasium's
  trajectory within a few hundred steps; `torch.polar(1, x)` computes `cos(x) + i sin(x)` with libm's `cos` and
  `sin` element by element (`1.0 * cos(x)` is exact), so `_cos_sin` takes them from there.
- A numpy scalar's `x ** 2` (`dtheta1**2`, `dtheta2**2`, `d2**2`) is libm's `pow(x, 2.0)`, not `x * x`: the two
  differ on about 0.1% of inputs (`pow` is not correctly rounded). `torch.pow` with a tensor exponent calls
  `std::pow` (libm) element by element where an operand is not contiguous and a vectorized pow (which differs on
  about 1.5% of inputs) where all are; `_libm_pow2` passes a strided view, so it takes the libm path.
- `wrap` subtracts (adds) 2 pi while the angle is above pi (below -pi), rounding each time; `_wrap` unrolls the
  loop `WRAP_ITERATIONS` times, enough for any state the dynamics can reach (see there).

The number type of the state: `reset` stores `uniform(-0.1, 0.1, 4).astype(np.float32)`, the first step a float64
array. The step is the same either way (`np.append(state, torque)` and `rk4` promote to float64), but the first
observation of an episode is numpy's float32 `cos` / `sin` of the float32 angles, a vectorized Cody-Waite
algorithm whose result differs from the float64 one rounded to float32 on about 0.1% of start states. So a sub-env
carries whether gymnasium holds its state as float32 (`state["float32"]`), and those float32 cosines and sines, which
`initial_state` computes with numpy's float32 algorithm (`_numpy_cos_sin_f32`) once per start state rather than
`observe` in each of its two calls per step (`state["trig32"]`).

On cuda the same code runs with CUDA's `sin`, `cos` and `pow`, which can differ from libm in the last bit, so there a
trajectory is gymnasium's only up to those roundings.
"""

import functools
import math

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from pglab.envs.batched.base import BatchedEnv, State

DT = 0.2  # seconds per step (rk4's `t = [0, dt]`, so its step is `dt - 0`)
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = LINK_MASS_2 = 1.0
LINK_COM_POS_1 = LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
GRAVITY = 9.8
MAX_VEL_1 = 4 * math.pi
MAX_VEL_2 = 9 * math.pi
# every state variable starts uniform in this range (then rounded to float32)
RESET_LOW, RESET_HIGH = -0.1, 0.1
TERMINAL_HEIGHT = 1.0  # terminated when -cos(th1) - cos(th2 + th1) > 1.0
#: gymnasium's `wrap` loops while the angle is out of [-pi, pi]; RK4's angle before the wrap stays below 9.5 pi in
#: magnitude over the reachable states (a numerical maximization over angles in [-pi, pi], velocities within the
#: bounds and the three torques found 9.46 pi for th1 and 8.53 pi for th2), i.e. at most 5 turns; 6 covers 13 pi.
WRAP_ITERATIONS = 6

# _dsdt's constant subexpressions, as gymnasium evaluates them (Python floats, left to right)
_m1, _m2, _l1, _lc1, _lc2 = LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2
_I1 = _I2 = LINK_MOI
_D1_CONST = _m1 * _lc1**2  # d1 = _D1_CONST + m2 * (_D1_SQUARES + _D1_COS * cos(theta2)) + I1 + I2
_D1_SQUARES = _l1**2 + _lc2**2
_D1_COS = 2 * _l1 * _lc2
_D2_SQUARE = _lc2**2  # d2 = m2 * (_D2_SQUARE + _D2_COS * cos(theta2)) + I2
_D2_COS = _l1 * _lc2
_PHI2 = _m2 * _lc2 * GRAVITY  # phi2 = _PHI2 * cos(theta1 + theta2 - pi / 2)
_PHI1_SQUARE = -_m2 * _l1 * _lc2  # times dtheta2**2 * sin(theta2)
_PHI1_CROSS = 2 * _m2 * _l1 * _lc2  # times dtheta2 * dtheta1 * sin(theta2)
_PHI1_GRAVITY = (_m1 * _lc1 + _m2 * _l1) * GRAVITY  # times cos(theta1 - pi / 2)
_DD2_SQUARE = _m2 * _l1 * _lc2  # times dtheta1**2 * sin(theta2)
_DD2_DENOMINATOR = _m2 * _lc2**2 + _I2  # minus d2**2 / d1
_HALF_PI = math.pi / 2.0
_STEP = DT - 0  # rk4: dt = t[1] - t[0]
_HALF_STEP = _STEP / 2.0
_SIXTH_STEP = _STEP / 6.0

# numpy's float32 sin / cos (numpy/_core/src/umath/loops_trigonometric.dispatch.cpp, `simd_sincos_f32`)
_F32_TWO_OVER_PI = float.fromhex("0x1.45f306p-1")
_F32_PIO2 = (
    float.fromhex("-0x1.921fb0p+00"),
    float.fromhex("-0x1.5110b4p-22"),
    float.fromhex("-0x1.846988p-48"),
)
_F32_RINT_MAGIC = float.fromhex("0x1.800000p+23")
_F32_COS_POLY = ("0x1.98e616p-16", "-0x1.6c06dcp-10", "0x1.55553cp-05", "-0x1.000000p-01", "0x1.000000p+00")
# the sine: the Horner steps with these, then r * x + x
_F32_SIN_POLY = ("0x1.7d3bbcp-19", "-0x1.a06bbap-13", "0x1.11119ap-07", "-0x1.555556p-03", "0x0p+0")
#: (cosine, sine) coefficient pairs of the Horner steps, highest degree first
_F32_POLY = [(float.fromhex(c), float.fromhex(s)) for c, s in zip(_F32_COS_POLY, _F32_SIN_POLY, strict=True)]


def _libm_pow2(base: Tensor) -> Tensor:
    """`base ** 2` as C's `pow(base, 2.0)` computes it, i.e. as a numpy float64 scalar's `** 2` does: a strided view
    of `base` makes ATen's pow loop call `std::pow` element by element (module docstring)."""
    strided = torch.stack([base, base], dim=-1)[..., 0]
    return torch.pow(strided, base.new_full((), 2.0))


def _cos_sin(x: Tensor) -> tuple[Tensor, Tensor]:
    """libm's `cos(x)` and `sin(x)` (float64), from `torch.polar` (module docstring)."""
    unit = torch.polar(torch.ones_like(x), x)
    return unit.real, unit.imag


@functools.cache
def _f32_poly(device: torch.device) -> Tensor:
    """`_F32_POLY` as a `(5, 2)` float64 tensor on `device` (made once per device, not in every step)."""
    return torch.tensor(_F32_POLY, dtype=torch.float64, device=device)


def _fma_f32(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """`fma(a, b, c)` of float32 numbers held in float64 tensors, rounded once to float32 (as float32).

    The product of two float32 numbers is exact in float64; the sum is rounded to float64 "to odd" (TwoSum's error
    says whether it was exact; an inexact result with an even last bit moves one ulp toward the exact sum), and a
    float64 rounded to odd rounds to float32 as the exact sum does (53 >= 24 + 2 bits; Boldo and Melquiond, "Emulation
    of FMA and correctly rounded sums: proved algorithms using rounding to odd", 2008)."""
    product = a * b
    total = product + c
    virtual = total - product
    error = (product - (total - virtual)) + (c - virtual)
    inexact_even = (error != 0) & ((total.view(torch.int64) & 1) == 0)
    total = torch.where(inexact_even, torch.nextafter(total, error * math.inf), total)
    return total.to(torch.float32)


def _numpy_cos_sin_f32(x: Tensor) -> tuple[Tensor, Tensor]:
    """numpy's float32 `np.cos(x)` and `np.sin(x)` of the float32 numbers `x` (as float32), on an x86-64 cpu with
    FMA3: numpy 2.4's `simd_sincos_f32` (numpy/_core/src/umath/loops_trigonometric.dispatch.cpp), a Cody-Waite
    reduction by pi / 2 in three float32 parts and float32 minimax polynomials, evaluated with fused multiply-adds.

    The fused multiply-adds of the reduction and of the polynomials' Horner steps are computed in float64 (where the
    product is exact) and rounded to float32, i.e. rounded twice, which can differ from one rounding where the
    float64 sum lands exactly on a float32 rounding midpoint; the sine's last one, `r * x + x`, is rounded once
    (`_fma_f32`). Over every float32 start angle, [-0.1, 0.1] (2.07e9 numbers), this equals numpy bit for bit
    (checked exhaustively; with the last step rounded twice too, 4 of them differ), and float32 states exist only
    there (from `reset`). Beyond |x| 71476 numpy calls libm's `cosf` / `sinf`, which this does not reproduce."""
    x32 = x.to(torch.float32)
    # the quadrant, rounded to the nearest integer by the magic constant (float32 arithmetic)
    quadrant = (x32 * _F32_TWO_OVER_PI + _F32_RINT_MAGIC) - _F32_RINT_MAGIC
    q = quadrant.to(torch.float64)
    reduced = x32.to(torch.float64)
    for part in _F32_PIO2:
        reduced = (q * part + reduced).to(torch.float32).to(torch.float64)
    reduced2 = (reduced * reduced).to(torch.float32).to(torch.float64)[..., None]
    # the cosine's and the sine's Horner steps side by side: [..., 0] cosine, [..., 1] sine
    coefficients = _f32_poly(x.device)
    poly = coefficients[0].expand(reduced2.shape[:-1] + (2,))
    for pair in coefficients[1:]:
        poly = (poly * reduced2 + pair).to(torch.float32).to(torch.float64)
    cos_poly = poly[..., 0].to(torch.float32)
    sin_poly = _fma_f32(poly[..., 1], reduced, reduced)
    iquadrant = quadrant.to(torch.int32)
    results = []
    for offset in (1, 0):  # the cosine is the sine a quadrant on
        k = iquadrant + offset
        value = torch.where((k & 1) == 0, sin_poly, cos_poly)
        results.append(torch.where((k & 2) == 2, 0.0 - value, value))
    return results[0], results[1]


def _trig32(x: Tensor) -> Tensor:
    """numpy's float32 `[cos th1, sin th1, cos th2, sin th2]` of the float32 states `x` `(N, 4)`: `(N, 4)` float32."""
    cos, sin = _numpy_cos_sin_f32(x[:, :2])
    return torch.stack([cos[:, 0], sin[:, 0], cos[:, 1], sin[:, 1]], dim=1)


def _dsdt(y: Tensor, torque: Tensor) -> Tensor:
    """gymnasium's `AcrobotEnv._dsdt` (book dynamics) of the `(N, 4)` states `y`: `(N, 4)` derivatives."""
    theta1, theta2, dtheta1, dtheta2 = y.unbind(1)
    cos, sin = _cos_sin(torch.stack([theta2, (theta1 + theta2) - _HALF_PI, theta1 - _HALF_PI], dim=1))
    cos_theta2, sin_theta2 = cos[:, 0], sin[:, 0]
    d1 = ((_D1_CONST + _m2 * (_D1_SQUARES + _D1_COS * cos_theta2)) + _I1) + _I2
    d2 = _m2 * (_D2_SQUARE + _D2_COS * cos_theta2) + _I2
    squares = _libm_pow2(torch.stack([dtheta1, dtheta2, d2], dim=1))
    dtheta1_sq, dtheta2_sq, d2_sq = squares.unbind(1)
    phi2 = _PHI2 * cos[:, 1]
    phi1 = (
        ((_PHI1_SQUARE * dtheta2_sq) * sin_theta2 - ((_PHI1_CROSS * dtheta2) * dtheta1) * sin_theta2)
        + _PHI1_GRAVITY * cos[:, 2]
    ) + phi2
    ddtheta2 = (((torque + (d2 / d1) * phi1) - (_DD2_SQUARE * dtheta1_sq) * sin_theta2) - phi2) / (
        _DD2_DENOMINATOR - d2_sq / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return torch.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], dim=1)


def _wrap(x: Tensor, low: float, high: float) -> Tensor:
    """gymnasium's `wrap`: `x - diff` while `x > high`, then `x + diff` while `x < low`, each rounded, unrolled."""
    diff = high - low
    for _ in range(WRAP_ITERATIONS):
        x = torch.where(x > high, x - diff, x)
    for _ in range(WRAP_ITERATIONS):
        x = torch.where(x < low, x + diff, x)
    return x


class Acrobot(BatchedEnv):
    """Batched Acrobot-v1. State `{"x": (N, 4) float64, "float32": (N,) bool, "trig32": (N, 4) float32}`: the two
    joint angles th1, th2 (th2 relative to link 1) and their angular velocities (gymnasium's `state`, exactly);
    whether gymnasium holds them as float32 (from `reset` to the episode's first step; module docstring); and, where
    it does, numpy's float32 `[cos th1, sin th1, cos th2, sin th2]` of them, the observation's first four entries
    (elsewhere stale, unused). Actions `(N,)` int64: 0 applies torque -1, 1 none, 2 +1."""

    gymnasium_id = "Acrobot-v1"
    default_max_episode_steps = 500
    reset_draws = 4

    def __init__(self, num_envs: int, device: str | torch.device = "cpu", **kwargs):
        high = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2], dtype=np.float32)  # gymnasium's bounds
        self.single_observation_space = gym.spaces.Box(low=-high, high=high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(3)
        super().__init__(num_envs, device, **kwargs)

    def initial_state(self, uniform: Tensor) -> State:
        # numpy's Generator.uniform(low, high): low + (high - low) * U; then gymnasium's astype(np.float32)
        x = (RESET_LOW + (RESET_HIGH - RESET_LOW) * uniform).to(torch.float32).to(torch.float64)
        return {"x": x, "float32": torch.ones_like(x[:, 0], dtype=torch.bool), "trig32": _trig32(x)}

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        y0 = state["x"]
        torque = (actions - 1).to(torch.float64)  # AVAIL_TORQUE[a]
        # rk4(self._dsdt, s_augmented, [0, dt]): the torque component's derivative is 0, so it stays `torque`
        k1 = _dsdt(y0, torque)
        k2 = _dsdt(y0 + _HALF_STEP * k1, torque)
        k3 = _dsdt(y0 + _HALF_STEP * k2, torque)
        k4 = _dsdt(y0 + _STEP * k3, torque)
        y1 = y0 + _SIXTH_STEP * (((k1 + 2 * k2) + 2 * k3) + k4)
        theta1, theta2, dtheta1, dtheta2 = y1.unbind(1)
        angles = _wrap(torch.stack([theta1, theta2], dim=1), -math.pi, math.pi)
        next_x = torch.cat(
            [
                angles,
                dtheta1.clamp(-MAX_VEL_1, MAX_VEL_1)[:, None],
                dtheta2.clamp(-MAX_VEL_2, MAX_VEL_2)[:, None],
            ],
            dim=1,
        )
        theta1, theta2 = angles.unbind(1)
        cos, _ = _cos_sin(torch.stack([theta1, theta2 + theta1], dim=1))
        terminated = (-cos[:, 0] - cos[:, 1]) > TERMINAL_HEIGHT
        rewards = torch.where(terminated, 0.0, -1.0).to(torch.float64)
        next_state = {"x": next_x, "float32": torch.zeros_like(state["float32"]), "trig32": state["trig32"]}
        return next_state, rewards, terminated

    def observe(self, state: State) -> Tensor:
        x = state["x"]
        cos, sin = _cos_sin(x[:, :2])
        trig = torch.stack([cos[:, 0], sin[:, 0], cos[:, 1], sin[:, 1]], dim=1).to(torch.float32)
        trig = torch.where(state["float32"][:, None], state["trig32"], trig)
        return torch.cat([trig, x[:, 2:].to(torch.float32)], dim=1)

    def load_into(self, env: gym.Env, state: State) -> None:
        dtype = np.float32 if bool(state["float32"]) else np.float64
        env.state = state["x"].cpu().numpy().astype(dtype)

    def read_from(self, env: gym.Env) -> State:
        x = np.asarray(env.state)
        # numpy's own float32 cos / sin, as gymnasium's `_get_ob` computes them (used where the state is float32)
        angles = x[:2].astype(np.float32)
        trig32 = np.array([np.cos(angles[0]), np.sin(angles[0]), np.cos(angles[1]), np.sin(angles[1])])
        return {
            "x": torch.as_tensor(x.astype(np.float64), device=self.device),
            "float32": torch.tensor(x.dtype == np.float32, device=self.device),
            "trig32": torch.as_tensor(trig32, dtype=torch.float32, device=self.device),
        }
