"""Motion families for the 15 Human3.6M actions, written as anatomical joint angles at 50 Hz.

A motion is a timeline of key poses joined by minimum-jerk transitions and held with small idle movements
(breathing sway, weight shifts), plus overlays: a gait cycle for the walking actions, oscillations for
waving and gesturing. Every random choice comes from the generator passed in, so a (seed, subject,
sequence) triple always gives the same motion. Angles are clipped to ``DOF_LIMITS`` (joint limits).

The root's height is not set here: the dataset generator puts the lowest point of the feet on the floor,
which is also what lowers the pelvis to chair height when the hips and knees bend to sit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..body.anny import DOF_LIMITS, DOFS

FPS = 50
#: Centre of the capture volume on the floor (world metres): below the centroid of the four H36M cameras.
VOLUME_CENTRE = np.array([0.0, 0.3])
_COL = {name: i for i, name in enumerate(DOFS)}


@dataclass(frozen=True)
class Style:
    """A subject's habits: how fast and how wide they move, their posture, dominant hand, gait."""

    tempo: float
    amplitude: float
    slouch: float
    arm_rest: float
    hand: str
    walk_speed: float
    arm_swing: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Style":
        return cls(tempo=rng.uniform(0.85, 1.2), amplitude=rng.uniform(0.8, 1.2), slouch=rng.uniform(-2, 10),
                   arm_rest=rng.uniform(4, 14), hand="r" if rng.random() < 0.8 else "l",
                   walk_speed=rng.uniform(1.05, 1.4), arm_swing=rng.uniform(0.5, 1.0))


@dataclass
class Motion:
    """Anatomical angles (T, len(DOFS)) in degrees, the pelvis ground position (T, 2) in metres."""

    angles: np.ndarray
    ground_xy: np.ndarray


def neutral(style: Style) -> dict[str, float]:
    """Relaxed standing: knees almost straight, arms hanging, elbows slightly bent."""
    pose = {"spine_flex": style.slouch * 0.5, "neck_flex": 4 + style.slouch * 0.3}
    for s in "lr":
        pose.update({f"hip_flex_{s}": 2, f"hip_abd_{s}": 3, f"knee_{s}": 4, f"sh_abd_{s}": style.arm_rest,
                     f"sh_flex_{s}": 3, f"elbow_{s}": 12, f"sh_rot_{s}": 5})
    return pose


def sitting(style: Style, rng: np.random.Generator) -> dict[str, float]:
    """Seated on a chair: thighs about horizontal, shanks about vertical, hands on the thighs."""
    pose = neutral(style)
    for s in "lr":
        pose.update({f"hip_flex_{s}": rng.uniform(82, 95), f"knee_{s}": rng.uniform(80, 100),
                     f"hip_abd_{s}": rng.uniform(4, 12), f"sh_flex_{s}": rng.uniform(20, 35),
                     f"elbow_{s}": rng.uniform(50, 75), f"sh_abd_{s}": 10})
    pose["spine_flex"] = rng.uniform(-5, 15) + style.slouch
    return pose


class Timeline:
    """Key poses joined by minimum-jerk transitions; poses are dicts of DOF -> degrees over a base pose."""

    def __init__(self, base: dict[str, float], rng: np.random.Generator, style: Style):
        self.rng, self.style = rng, style
        self.current = _vector(base)
        self.frames: list[np.ndarray] = []

    def go(self, pose: dict[str, float], seconds: float, relative: bool = False) -> "Timeline":
        """Move to ``pose`` (absolute, or added to the current pose) in ``seconds``."""
        target = self.current.copy()
        for k, v in pose.items():
            target[_COL[k]] = target[_COL[k]] + v if relative else v
        n = max(2, int(round(seconds / self.style.tempo * FPS)))
        s = np.linspace(0, 1, n + 1)[1:]
        w = 10 * s**3 - 15 * s**4 + 6 * s**5
        self.frames.append(self.current + w[:, None] * (target - self.current))
        self.current = target
        return self

    def hold(self, seconds: float) -> "Timeline":
        n = max(1, int(round(seconds * FPS)))
        self.frames.append(np.repeat(self.current[None], n, axis=0))
        return self

    def render(self, T: int) -> np.ndarray:
        """(T, D) angles: the timeline cut to T frames, or held at its last pose up to T."""
        out = np.concatenate(self.frames, axis=0) if self.frames else self.current[None]
        if len(out) < T:
            out = np.concatenate([out, np.repeat(out[-1:], T - len(out), axis=0)])
        return out[:T].copy()

    def seconds(self) -> float:
        return sum(len(f) for f in self.frames) / FPS


def _vector(pose: dict[str, float]) -> np.ndarray:
    v = np.zeros(len(DOFS))
    for k, val in pose.items():
        v[_COL[k]] = val
    return v


def smooth_noise(rng: np.random.Generator, T: int, amplitude: float, low: float = 0.08, high: float = 0.5) -> np.ndarray:
    """A slow random signal (sum of a few sinusoids between ``low`` and ``high`` Hz), zero mean, given amplitude."""
    t = np.arange(T) / FPS
    freqs = rng.uniform(low, high, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    weights = rng.uniform(0.5, 1.0, 3)
    sig = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    return amplitude * sig / weights.sum()


def idle(rng: np.random.Generator, T: int, scale: float = 1.0) -> np.ndarray:
    """Small movements of a person standing or sitting still: sway, breathing, glances, weight shifts."""
    out = np.zeros((T, len(DOFS)))
    for name, amp in (("spine_flex", 2.5), ("spine_bend", 2.0), ("spine_twist", 3.0), ("neck_flex", 4.0),
                      ("neck_bend", 3.0), ("neck_twist", 10.0), ("root_roll", 1.5), ("root_yaw", 3.0)):
        out[:, _COL[name]] = smooth_noise(rng, T, amp * scale)
    shift = smooth_noise(rng, T, 4.0 * scale, 0.05, 0.25)  # weight shift from one leg to the other
    out[:, _COL["hip_abd_l"]] += shift
    out[:, _COL["hip_abd_r"]] -= shift
    for s in "lr":
        out[:, _COL[f"elbow_{s}"]] += smooth_noise(rng, T, 5.0 * scale)
        out[:, _COL[f"sh_flex_{s}"]] += smooth_noise(rng, T, 4.0 * scale)
    return out


def _periodic_bump(phase: np.ndarray, center: float, width: float) -> np.ndarray:
    d = (phase - center + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def gait(phase: np.ndarray, swing: float, arm_swing: float) -> np.ndarray:
    """Angle offsets of a walking cycle at gait ``phase`` (cycles; right heel strike at integers)."""
    out = np.zeros((len(phase), len(DOFS)))
    hip = {}
    for s, offset in (("r", 0.0), ("l", 0.5)):
        p = (phase + offset) % 1.0
        hip[s] = 8 + 22 * swing * np.cos(2 * np.pi * p)
        out[:, _COL[f"hip_flex_{s}"]] = hip[s]
        out[:, _COL[f"knee_{s}"]] = 4 + 14 * _periodic_bump(p, 0.12, 0.06) + 55 * swing * _periodic_bump(p, 0.72, 0.1)
        out[:, _COL[f"ankle_{s}"]] = 6 * np.sin(2 * np.pi * (p - 0.1)) - 14 * swing * _periodic_bump(p, 0.6, 0.05)
    for s, other in (("r", "l"), ("l", "r")):
        out[:, _COL[f"sh_flex_{s}"]] = 0.8 * arm_swing * (hip[other] - 8)
        out[:, _COL[f"elbow_{s}"]] = 10 + 0.4 * arm_swing * np.clip(hip[other] - 8, 0, None)
    out[:, _COL["spine_twist"]] = 5 * swing * np.sin(2 * np.pi * phase)
    out[:, _COL["root_yaw"]] = -4 * swing * np.sin(2 * np.pi * phase)
    out[:, _COL["root_roll"]] = 3 * swing * np.sin(4 * np.pi * phase)
    return out


@dataclass
class _Plan:
    """What an action builder returns: the keyframed timeline, overlays, and how much the subject walks."""

    angles: np.ndarray
    walking: np.ndarray  # (T,) in [0, 1]: share of walking speed at each frame
    speed: float
    extra: list[np.ndarray] = field(default_factory=list)


def _standing_plan(tl: Timeline, T: int, rng: np.random.Generator, idle_scale: float = 1.0) -> _Plan:
    return _Plan(tl.render(T) + idle(rng, T, idle_scale), np.zeros(T), 0.0)


def _other(s: str) -> str:
    return "l" if s == "r" else "r"


def _hand_to_head(s: str, rng: np.random.Generator, target: str) -> dict[str, float]:
    """Arm pose that brings the hand to the ear (phone), the mouth (eat, smoke) or the eyes (camera).

    The ranges were found by a grid search on the rest body: the hand ends within about 3-5 cm of the target.
    """
    ranges = {"ear": ((80, 95), (0, 15), (-20, -5), (135, 148)), "mouth": ((65, 80), (0, 15), (10, 25), (130, 142)),
              "eyes": ((72, 88), (0, 12), (0, 10), (108, 122))}[target]
    names = (f"sh_flex_{s}", f"sh_abd_{s}", f"sh_rot_{s}", f"elbow_{s}")
    return {n: rng.uniform(*r) for n, r in zip(names, ranges)}


def _arm_rest(style: Style, s: str) -> dict[str, float]:
    return {f"sh_flex_{s}": 3, f"sh_abd_{s}": style.arm_rest, f"elbow_{s}": 12, f"sh_rot_{s}": 5}


def _directions(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    while tl.seconds() * FPS < T:
        s = rng.choice(["l", "r"])
        tl.go({"root_yaw": rng.uniform(-60, 60)}, rng.uniform(0.8, 1.5), relative=True)
        tl.go({f"sh_flex_{s}": rng.uniform(55, 95), f"sh_abd_{s}": rng.uniform(10, 50), f"elbow_{s}": rng.uniform(5, 30),
               "neck_twist": rng.uniform(-30, 30) * (1 if s == "l" else -1)}, rng.uniform(0.6, 1.0))
        tl.hold(rng.uniform(0.5, 1.5))
        tl.go({**_arm_rest(style, s), "neck_twist": 0}, rng.uniform(0.6, 1.0)).hold(rng.uniform(0.3, 1.2))
    return _standing_plan(tl, T, rng)


def _discussion(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    while tl.seconds() * FPS < T:
        pose = {}
        for s in "lr":
            if rng.random() < 0.7:
                pose.update({f"sh_flex_{s}": rng.uniform(15, 50) * style.amplitude, f"sh_abd_{s}": rng.uniform(10, 35),
                             f"elbow_{s}": rng.uniform(60, 110), f"sh_rot_{s}": rng.uniform(10, 45)})
            else:
                pose.update(_arm_rest(style, s))
        pose.update({"spine_twist": rng.uniform(-15, 15), "neck_twist": rng.uniform(-25, 25)})
        tl.go(pose, rng.uniform(0.4, 0.9)).hold(rng.uniform(0.2, 1.0))
        if rng.random() < 0.2:
            tl.go({"root_yaw": rng.uniform(-45, 45)}, 1.0, relative=True)
    plan = _standing_plan(tl, T, rng, 1.3)
    for s in "lr":  # beats of the hands while talking
        plan.angles[:, _COL[f"elbow_{s}"]] += smooth_noise(rng, T, 10 * style.amplitude, 0.8, 2.0)
    return plan


def _eating(T, rng, style):
    seat = sitting(style, rng)
    seat.update({"spine_flex": seat["spine_flex"] + rng.uniform(5, 15), "sh_flex_l": 35, "sh_flex_r": 35,
                 "elbow_l": 85, "elbow_r": 85})
    tl = Timeline(seat, rng, style)
    while tl.seconds() * FPS < T:
        s = style.hand if rng.random() < 0.75 else _other(style.hand)
        tl.hold(rng.uniform(0.8, 2.5))
        tl.go({**_hand_to_head(s, rng, "mouth"), "neck_flex": rng.uniform(10, 25)}, rng.uniform(0.6, 1.0))
        tl.hold(rng.uniform(0.3, 0.8))
        tl.go({f"sh_flex_{s}": 35, f"sh_abd_{s}": 10, f"elbow_{s}": 85, f"sh_rot_{s}": 10, "neck_flex": 8},
              rng.uniform(0.6, 1.0))
    return _standing_plan(tl, T, rng, 0.7)


def _greeting(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    wave = np.zeros(T)
    while tl.seconds() * FPS < T:
        kind = rng.choice(["wave", "shake", "bow"])
        s = style.hand
        if kind == "wave":
            tl.go({f"sh_abd_{s}": rng.uniform(90, 135), f"sh_flex_{s}": rng.uniform(10, 40),
                   f"elbow_{s}": rng.uniform(50, 90), f"sh_rot_{s}": -20}, 0.7)
            start = int(tl.seconds() * FPS)
            tl.hold(rng.uniform(1.2, 2.5))
            end = min(T, int(tl.seconds() * FPS))
            if start < T:
                t = np.arange(end - start) / FPS
                wave[start:end] = 25 * style.amplitude * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
        elif kind == "shake":
            tl.go({f"sh_flex_{s}": rng.uniform(35, 50), f"elbow_{s}": rng.uniform(30, 50), "spine_flex": 12,
                   "hip_flex_l": 10, "knee_l": 15}, 0.9).hold(rng.uniform(1.0, 2.0))
        else:
            tl.go({"spine_flex": rng.uniform(25, 45), "neck_flex": 20}, 0.8).hold(rng.uniform(0.4, 1.0))
        tl.go({**neutral(style), "root_yaw": tl.current[_COL["root_yaw"]] + rng.uniform(-40, 40)}, 0.9)
        tl.hold(rng.uniform(0.3, 1.0))
    plan = _standing_plan(tl, T, rng)
    plan.angles[:, _COL[f"sh_rot_{style.hand}"]] += wave
    return plan


def _phoning(T, rng, style):
    s = style.hand
    tl = Timeline(neutral(style), rng, style)
    tl.go({**_hand_to_head(s, rng, "ear"), "neck_bend": 12 if s == "l" else -12}, 1.0)
    walking = np.zeros(T)
    while tl.seconds() * FPS < T:
        start = int(tl.seconds() * FPS)
        if rng.random() < 0.4:  # pace slowly while talking
            dur = rng.uniform(2.0, 4.0)
            walking[start:start + int(dur * FPS)] = 1.0
            tl.hold(dur)
        else:
            o = _other(s)
            tl.go({f"sh_flex_{o}": rng.uniform(0, 40), f"elbow_{o}": rng.uniform(20, 100),
                   "root_yaw": tl.current[_COL["root_yaw"]] + rng.uniform(-30, 30)}, 1.0)
            tl.hold(rng.uniform(1.0, 2.5))
    plan = _standing_plan(tl, T, rng)
    return _Plan(plan.angles, _ramp(walking), 0.7 * style.walk_speed)


def _photo(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    while tl.seconds() * FPS < T:
        pose = {**_hand_to_head("l", rng, "eyes"), **_hand_to_head("r", rng, "eyes"), "neck_flex": rng.uniform(-5, 10)}
        if rng.random() < 0.45:  # crouch for a low shot
            k = rng.uniform(40, 90)
            pose.update({"hip_flex_l": k * 0.8, "hip_flex_r": k * 0.8, "knee_l": k, "knee_r": k, "ankle_l": k * 0.25,
                         "ankle_r": k * 0.25, "spine_flex": rng.uniform(10, 25)})
        tl.go(pose, rng.uniform(0.8, 1.3)).hold(rng.uniform(1.0, 2.0))
        tl.go({**neutral(style), "root_yaw": tl.current[_COL["root_yaw"]] + rng.uniform(-70, 70)}, rng.uniform(0.9, 1.4))
        tl.hold(rng.uniform(0.3, 1.0))
    return _standing_plan(tl, T, rng)


def _posing(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    poses = [
        {"sh_abd_l": 45, "sh_abd_r": 45, "elbow_l": 105, "elbow_r": 105, "sh_rot_l": 35, "sh_rot_r": 35},
        {"sh_flex_l": 165, "sh_flex_r": 165, "elbow_l": 10, "elbow_r": 10},
        {"sh_abd_l": 90, "sh_abd_r": 90, "elbow_l": 5, "elbow_r": 5},
        {"hip_flex_l": 55, "knee_l": 65, "hip_flex_r": -10, "knee_r": 10, "ankle_l": 15, "sh_flex_l": 90,
         "sh_flex_r": 90, "elbow_l": 15, "elbow_r": 15},
        {"spine_bend": 20, "hip_abd_l": 15, "hip_abd_r": 10, "sh_abd_r": 150, "elbow_r": 20, "sh_abd_l": 20},
        {"sh_flex_l": 40, "sh_flex_r": 40, "elbow_l": 120, "elbow_r": 120, "sh_rot_l": 60, "sh_rot_r": 60,
         "neck_twist": 30},
    ]
    while tl.seconds() * FPS < T:
        pose = dict(poses[rng.integers(len(poses))])
        pose = {k: v * rng.uniform(0.85, 1.1) for k, v in pose.items()}
        tl.go({**neutral(style), **pose}, rng.uniform(0.8, 1.4)).hold(rng.uniform(1.0, 2.5))
        tl.go({"root_yaw": rng.uniform(-50, 50)}, 1.0, relative=True)
    return _standing_plan(tl, T, rng, 0.6)


def _purchases(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    walking = np.zeros(T)
    while tl.seconds() * FPS < T:
        start = int(tl.seconds() * FPS)
        dur = rng.uniform(1.5, 3.0)
        walking[start:start + int(dur * FPS)] = 1.0
        tl.hold(dur)
        s = style.hand
        reach = rng.uniform(0, 1)  # from a low shelf (deep bend) to a high one
        tl.go({"spine_flex": 65 - 55 * reach, "hip_flex_l": 45 - 40 * reach, "hip_flex_r": 45 - 40 * reach,
               "knee_l": 35 - 30 * reach, "knee_r": 35 - 30 * reach, f"sh_flex_{s}": 60 + 80 * reach,
               f"elbow_{s}": 15, "neck_flex": 30 - 50 * reach}, rng.uniform(0.9, 1.4))
        tl.hold(rng.uniform(0.5, 1.2))
        tl.go({**neutral(style), f"sh_flex_{s}": 25, f"elbow_{s}": 95, f"sh_rot_{s}": 40}, 1.0)
        tl.hold(rng.uniform(0.5, 1.5))
    plan = _standing_plan(tl, T, rng)
    return _Plan(plan.angles, _ramp(walking), 0.8 * style.walk_speed)


def _sitting(T, rng, style):
    tl = Timeline(sitting(style, rng), rng, style)
    while tl.seconds() * FPS < T:
        kind = rng.choice(["lean", "leg", "arms", "look"])
        if kind == "lean":
            tl.go({"spine_flex": rng.uniform(-10, 35)}, 1.2)
        elif kind == "leg":
            s = rng.choice(["l", "r"])
            tl.go({f"knee_{s}": rng.uniform(20, 60), f"hip_flex_{s}": rng.uniform(70, 90)}, 1.0)
        elif kind == "arms":
            tl.go({"sh_flex_l": rng.uniform(10, 60), "sh_flex_r": rng.uniform(10, 60), "elbow_l": rng.uniform(40, 120),
                   "elbow_r": rng.uniform(40, 120), "sh_rot_l": rng.uniform(0, 50), "sh_rot_r": rng.uniform(0, 50)}, 1.0)
        else:
            tl.go({"neck_twist": rng.uniform(-50, 50), "spine_twist": rng.uniform(-20, 20)}, 1.0)
        tl.hold(rng.uniform(1.0, 3.0))
    return _standing_plan(tl, T, rng, 0.7)


def _sitting_down(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    while tl.seconds() * FPS < T:
        seat = sitting(style, rng)
        halfway = {k: 0.5 * (seat[k] + tl.current[_COL[k]]) for k in seat}
        tl.go({**halfway, "spine_flex": rng.uniform(30, 45)}, rng.uniform(0.8, 1.2))
        tl.go(seat, rng.uniform(0.6, 1.0)).hold(rng.uniform(1.0, 2.0))
        if rng.random() < 0.6:  # reach down to the floor while seated
            s = rng.choice(["l", "r"])
            tl.go({"spine_flex": rng.uniform(45, 65), f"sh_flex_{s}": rng.uniform(50, 80), f"elbow_{s}": 10,
                   "neck_flex": 30}, 1.0).hold(rng.uniform(0.5, 1.0)).go(seat, 1.0)
        tl.go({**halfway, "spine_flex": rng.uniform(30, 45)}, rng.uniform(0.8, 1.2))
        tl.go({**neutral(style), "root_yaw": tl.current[_COL["root_yaw"]] + rng.uniform(-30, 30)}, 1.0)
        tl.hold(rng.uniform(0.5, 1.5))
    return _standing_plan(tl, T, rng, 0.7)


def _smoking(T, rng, style):
    s, o = style.hand, _other(style.hand)
    base = {**neutral(style), f"sh_flex_{o}": 20, f"elbow_{o}": 95, f"sh_rot_{o}": 55}  # other arm across the belly
    tl = Timeline(base, rng, style)
    while tl.seconds() * FPS < T:
        tl.hold(rng.uniform(1.5, 4.0))
        tl.go(_hand_to_head(s, rng, "mouth"), rng.uniform(0.7, 1.1)).hold(rng.uniform(0.6, 1.2))
        tl.go({f"sh_flex_{s}": 15, f"sh_abd_{s}": 15, f"elbow_{s}": rng.uniform(60, 100), f"sh_rot_{s}": 10},
              rng.uniform(0.7, 1.1))
        if rng.random() < 0.3:
            tl.go({"root_yaw": rng.uniform(-40, 40)}, 1.2, relative=True)
    return _standing_plan(tl, T, rng)


def _waiting(T, rng, style):
    tl = Timeline(neutral(style), rng, style)
    holds = [
        {"sh_flex_l": -25, "sh_flex_r": -25, "elbow_l": 70, "elbow_r": 70, "sh_rot_l": 70, "sh_rot_r": 70},  # behind
        {"sh_flex_l": 30, "sh_flex_r": 30, "elbow_l": 115, "elbow_r": 115, "sh_rot_l": 75, "sh_rot_r": 75},  # crossed
        {"sh_abd_l": 40, "elbow_l": 110, "sh_rot_l": 35, "hip_abd_l": 8, "knee_r": 12},  # hand on hip
        {"sh_flex_l": 170, "sh_flex_r": 170, "elbow_l": 40, "elbow_r": 40, "spine_flex": -10},  # stretch
    ]
    while tl.seconds() * FPS < T:
        tl.go({**neutral(style), **holds[rng.integers(len(holds))]}, rng.uniform(0.8, 1.3))
        tl.hold(rng.uniform(1.5, 3.5))
        if rng.random() < 0.4:
            tl.go({"root_yaw": rng.uniform(-60, 60)}, 1.3, relative=True)
    return _standing_plan(tl, T, rng, 1.3)


def _walk_plan(T, rng, style, speed_scale: float, arm_swing: float, extra: dict[str, float] | None = None,
               stops: bool = False):
    base = {**neutral(style), **(extra or {})}
    tl = Timeline(base, rng, style)
    walking = np.ones(T)
    if stops:
        while tl.seconds() * FPS < T:
            dur = rng.uniform(2.0, 4.0)
            tl.hold(dur)
            start = int(tl.seconds() * FPS)
            pause = rng.uniform(0.8, 2.0)
            walking[start:start + int(pause * FPS)] = 0.0
            tl.go({"spine_flex": rng.uniform(20, 45), "neck_flex": 25}, pause / 2).go({"spine_flex": base["spine_flex"],
                                                                                      "neck_flex": 5}, pause / 2)
    plan = _standing_plan(tl, T, rng, 0.5)
    return _Plan(plan.angles, _ramp(walking), speed_scale * style.walk_speed, [np.full(T, arm_swing)])


def _walking(T, rng, style):
    return _walk_plan(T, rng, style, rng.uniform(0.95, 1.1), style.arm_swing)


def _walk_dog(T, rng, style):
    s = style.hand
    return _walk_plan(T, rng, style, rng.uniform(0.7, 0.9), 0.4 * style.arm_swing,
                      {f"sh_flex_{s}": rng.uniform(25, 40), f"elbow_{s}": rng.uniform(15, 35), f"sh_abd_{s}": 12},
                      stops=True)


def _walk_together(T, rng, style):
    side = rng.choice([-1, 1])
    return _walk_plan(T, rng, style, rng.uniform(0.8, 0.95), 0.5 * style.arm_swing,
                      {"neck_twist": side * rng.uniform(15, 35), "spine_twist": side * rng.uniform(0, 8)})


def _ramp(walking: np.ndarray, seconds: float = 0.5) -> np.ndarray:
    """Smooth a 0/1 walking mask so that starting and stopping take about ``seconds``."""
    n = max(1, int(seconds * FPS))
    kernel = np.hanning(2 * n + 1)
    return np.convolve(np.pad(walking, n, mode="edge"), kernel / kernel.sum(), mode="valid")


ACTION_BUILDERS: dict[str, Callable[[int, np.random.Generator, Style], _Plan]] = {
    "Directions": _directions, "Discussion": _discussion, "Eating": _eating, "Greeting": _greeting,
    "Phoning": _phoning, "Photo": _photo, "Posing": _posing, "Purchases": _purchases, "Sitting": _sitting,
    "SittingDown": _sitting_down, "Smoking": _smoking, "Waiting": _waiting, "WalkDog": _walk_dog,
    "Walking": _walking, "WalkTogether": _walk_together,
}


def make_motion(action: str, T: int, rng: np.random.Generator, style: Style, area_radius: float = 1.3) -> Motion:
    """A motion of ``action`` lasting ``T`` frames: joint angles within limits and the pelvis path on the floor,
    within ``area_radius`` metres of the volume's centre."""
    plan = ACTION_BUILDERS[action](T, rng, style)
    angles = plan.angles
    walking = plan.walking
    stride_hz = plan.speed / rng.uniform(1.25, 1.45)  # strides per second from speed / stride length
    phase = np.cumsum(walking * stride_hz / FPS) + rng.uniform(0, 1)
    swing = float(np.clip(plan.speed / 1.3, 0.5, 1.1))
    arm_swing = plan.extra[0] if plan.extra else np.full(T, style.arm_swing)
    g = gait(phase, swing, 1.0)
    arms = [_COL[f"{k}_{s}"] for k in ("sh_flex", "elbow") for s in "lr"]
    g[:, arms] *= arm_swing[:, None]
    angles = angles + walking[:, None] * g
    ground_xy, yaw = _path(T, rng, walking * plan.speed, area_radius)
    angles[:, _COL["root_yaw"]] += yaw
    lo = np.array([DOF_LIMITS[d][0] for d in DOFS])
    hi = np.array([DOF_LIMITS[d][1] for d in DOFS])
    return Motion(np.clip(angles, lo, hi), ground_xy + VOLUME_CENTRE)


def _path(T: int, rng: np.random.Generator, speed: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis ground positions and heading: a walk around an ellipse about the volume's centre, or standing still.

    Heading is in degrees about the vertical; 0 faces -y. Positions stay within ``radius`` metres of the centre.
    """
    if speed.max() == 0:
        r, a = rng.uniform(0, radius * 0.5), rng.uniform(0, 2 * np.pi)
        return np.repeat([[r * np.cos(a), r * np.sin(a)]], T, axis=0), np.full(T, rng.uniform(-180, 180))
    axes = np.array([rng.uniform(0.9, 1.25), rng.uniform(0.6, 0.9)])
    tilt = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    direction = rng.choice([-1.0, 1.0])
    theta = np.empty(T)
    theta[0] = rng.uniform(0, 2 * np.pi)
    for t in range(1, T):  # advance along the ellipse by arc length
        local = np.hypot(axes[0] * np.sin(theta[t - 1]), axes[1] * np.cos(theta[t - 1]))
        theta[t] = theta[t - 1] + direction * speed[t] / FPS / local
    xy = np.stack([axes[0] * np.cos(theta), axes[1] * np.sin(theta)], 1) @ rot.T + rng.normal(0, 0.05, 2)
    tangent = direction * np.stack([-axes[0] * np.sin(theta), axes[1] * np.cos(theta)], 1) @ rot.T
    heading = np.degrees(np.unwrap(np.arctan2(tangent[:, 0], -tangent[:, 1])))
    norm = np.linalg.norm(xy, axis=1, keepdims=True)
    return xy * np.minimum(1.0, radius / np.maximum(norm, 1e-9)), heading
