// Goal: session lengths follow the distribution asked for — the median given, the mean the formula
// says, a tail far heavier than an exponential's — and the residual sessions of the nodes online at
// the start are length-biased as a steady network's are; one seed gives one sequence.
// Method: 40,000 draws per check from a seeded generator (the seed is printed), compared with the
// closed forms within bounds several standard errors wide.

import assert from "node:assert/strict";
import { Prng } from "../../src/core/rng.ts";
import {
  checkSessionModel,
  drawExponentialMs,
  drawResidualSessionMs,
  drawSessionMs,
  gamma,
  sessionMeanMs,
  type SessionModel,
} from "../../src/sim/session_model.ts";

const seed = 20261207;
const draws = 40_000;
const weibull: SessionModel = { name: "weibull", medianMs: 3_600_000, shape: 0.5 };
const lognormal: SessionModel = { name: "lognormal", medianMs: 3_600_000, shape: 1.5 };

function sample(draw: (rng: Prng) => number, label: string): number[] {
  console.log(`session_model_test ${label}: seed ${seed}`);
  const rng = new Prng(seed);
  return Array.from({ length: draws }, () => draw(rng));
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function assertNear(actual: number, expected: number, tolerance: number, label: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * expected,
    `${label}: ${actual} is not within ${tolerance * 100}% of ${expected} (seed ${seed})`,
  );
}

Deno.test("gamma() matches known values", () => {
  assertNear(gamma(1), 1, 1e-12, "Γ(1)");
  assertNear(gamma(3), 2, 1e-12, "Γ(3)");
  assertNear(gamma(5), 24, 1e-12, "Γ(5)");
  assertNear(gamma(1.5), Math.sqrt(Math.PI) / 2, 1e-12, "Γ(1.5)");
  assertNear(gamma(11), 3_628_800, 1e-10, "Γ(11)");
});

Deno.test("drawSessionMs() is deterministic for one seed", () => {
  const a = new Prng(seed), b = new Prng(seed);
  for (const model of [weibull, lognormal]) {
    for (let i = 0; i < 100; i++) assert.equal(drawSessionMs(model, a), drawSessionMs(model, b));
  }
});

Deno.test("Weibull sessions: the median given, mean λΓ(1 + 1/k), a heavy tail", () => {
  const sessions = sample((rng) => drawSessionMs(weibull, rng), "weibull");
  assert.ok(sessions.every((ms) => ms > 0 && Number.isFinite(ms)));
  assertNear(median(sessions), weibull.medianMs, 0.03, "median");
  // k = 0.5: λ = median / ln(2)², mean = 2λ ≈ 4.16 medians.
  assertNear(sessionMeanMs(weibull), 2 * weibull.medianMs / Math.LN2 ** 2, 1e-9, "mean formula");
  assertNear(mean(sessions), sessionMeanMs(weibull), 0.08, "mean");
  // P(X > x) = exp(−(x/λ)^k) and (median/λ)^½ = ln 2, so P(X > 10 medians) = exp(−√10·ln 2)
  // ≈ 11%; an exponential with the same median: 2^−10 ≈ 0.1%.
  const tail = sessions.filter((ms) => ms > 10 * weibull.medianMs).length / draws;
  assertNear(tail, Math.exp(-Math.sqrt(10) * Math.LN2), 0.1, "tail beyond 10 medians");
  // ...and many very short ones: P(X < median / 100) = 1 − exp(−ln 2 / 10) ≈ 6.7% (exponential:
  // 0.7%).
  const short = sessions.filter((ms) => ms < weibull.medianMs / 100).length / draws;
  assertNear(short, 1 - Math.exp(-Math.LN2 / 10), 0.1, "sessions under 1% of the median");
});

Deno.test("log-normal sessions: the median given, mean e^(μ + σ²/2)", () => {
  const sessions = sample((rng) => drawSessionMs(lognormal, rng), "lognormal");
  assertNear(median(sessions), lognormal.medianMs, 0.03, "median");
  assertNear(sessionMeanMs(lognormal), lognormal.medianMs * Math.exp(1.125), 1e-9, "formula");
  assertNear(mean(sessions), sessionMeanMs(lognormal), 0.1, "mean");
  const logs = sessions.map((ms) => Math.log(ms / lognormal.medianMs));
  const sd = Math.sqrt(mean(logs.map((x) => x * x)));
  assertNear(sd, lognormal.shape, 0.03, "σ of the logarithm");
});

Deno.test("residual sessions are length-biased: mean E[L²] / 2E[L]", () => {
  // Weibull k = 0.5: E[L²] = 24λ², E[L] = 2λ, so the residual mean is 6λ (1.5× the session mean).
  const lambda = weibull.medianMs / Math.LN2 ** 2;
  const weibullResidual = sample((rng) => drawResidualSessionMs(weibull, rng), "residual weibull");
  assertNear(mean(weibullResidual), 6 * lambda, 0.08, "Weibull residual mean");
  // Log-normal: E[L²] / 2E[L] = e^(μ + 1.5σ²) / 2.
  const lognormalResidual = sample(
    (rng) => drawResidualSessionMs(lognormal, rng),
    "residual lognormal",
  );
  assertNear(
    mean(lognormalResidual),
    lognormal.medianMs * Math.exp(1.5 * 1.5 ** 2) / 2,
    0.15,
    "log-normal residual mean",
  );
  assert.ok(weibullResidual.every((ms) => ms > 0 && Number.isFinite(ms)));
});

Deno.test("drawExponentialMs() has the mean given", () => {
  const gaps = sample((rng) => drawExponentialMs(1000, rng), "exponential");
  assertNear(mean(gaps), 1000, 0.03, "mean gap");
  assertNear(median(gaps), 1000 * Math.LN2, 0.03, "median gap");
});

Deno.test("checkSessionModel() refuses parameters out of range, naming them", () => {
  checkSessionModel(weibull);
  assert.throws(() => checkSessionModel({ ...weibull, medianMs: 0 }), /median/);
  assert.throws(() => checkSessionModel({ ...weibull, medianMs: NaN }), /median/);
  assert.throws(() => checkSessionModel({ ...weibull, shape: 0.05 }), /shape/);
  assert.throws(() => checkSessionModel({ ...lognormal, shape: 11 }), /shape/);
  assert.throws(
    () => checkSessionModel({ ...weibull, name: "pareto" as SessionModel["name"] }),
    /pareto/,
  );
});
